package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/event"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registries/catalog"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/throttle"
)

// Periodic is the scope of scheduled rescans.
type Periodic struct {
	Targets []Target `json:"targets"`
	// MaxImages bounds one run (throttling); default 500.
	MaxImages int `json:"maxImages,omitempty"`
}

// Target is one registry in scope.
type Target struct {
	Registry string `json:"registry"`
	// Repositories in scope; empty means every repository of the catalog.
	Repositories []string `json:"repositories,omitempty"`
	// Tags in scope per repository: exact names or prefixes ending in *;
	// empty means every tag.
	Tags []string `json:"tags,omitempty"`
}

func (t Target) wants(tag string) bool {
	if len(t.Tags) == 0 {
		return true
	}
	for _, p := range t.Tags {
		if p == tag || strings.HasSuffix(p, "*") && strings.HasPrefix(tag, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

// PeriodicScan enumerates the repositories and tags in scope and queues a
// scan of each; unchanged images cost a manifest read, since their layers'
// facts and their report are reused.
func (e *Env) PeriodicScan(ctx context.Context, body []byte) ([]byte, error) {
	if _, err := event.ParseTimer(body); err != nil {
		return nil, badEvent(err)
	}
	var cfg Periodic
	if err := store.GetJSON(ctx, e.Store, storekey.Periodic, &cfg); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return json.Marshal(&Outcome{Ignored: "no scope configured at " + storekey.Periodic})
		}
		return nil, fmt.Errorf("%s: %w", storekey.Periodic, err)
	}
	max := cfg.MaxImages
	if max <= 0 {
		max = 500
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	o := source.Apply(d.Registry...)
	out := &Outcome{}
	for _, t := range cfg.Targets {
		c, err := e.admit(ctx, t.Registry)
		if err != nil {
			return nil, err
		}
		images, err := e.inScope(ctx, c, t, o)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", t.Registry, err)
		}
		for _, im := range images {
			if len(out.Images) >= max {
				out.Ignored = fmt.Sprintf("stopped at maxImages=%d", max)
				return json.Marshal(out)
			}
			if im.Digest == "" {
				if im.Digest, err = registry.Resolve(ctx, t.Registry+"/"+im.Repository+":"+im.Tag, c.Insecure, o); err != nil {
					return nil, err
				}
			}
			if ok, err := throttle.Take(ctx, e.Store, c.ID, c.Throttle(), time.Now()); err != nil {
				return nil, err
			} else if !ok {
				out.Ignored = fmt.Sprintf("registry %s is throttled at %d images an hour", c.ID, c.Throttle())
				break
			}
			pinned := t.Registry + "/" + im.Repository + "@" + im.Digest
			req := scanrecord.Request{Source: source.Ref{Kind: source.KindRegistry, Location: pinned, Insecure: c.Insecure}, AllPlatforms: true, Trigger: "timer"}
			if err := d.Submit(ctx, req); err != nil {
				return nil, err
			}
			out.Images = append(out.Images, pinned)
		}
	}
	return json.Marshal(out)
}

// maxListed bounds what one listing may hold in memory.
const maxListed = 100_000

// inScope lists the images of a target, sorted by repository and tag:
// the named repositories' tags, or everything the connection's lister
// finds (the kind's API: ACR EE, Harbor, ECR; else the catalog).
func (e *Env) inScope(ctx context.Context, c *registries.Connection, t Target, o source.Options) ([]registries.Image, error) {
	var out []registries.Image
	keep := func(im registries.Image) error {
		if !t.wants(im.Tag) || len(t.Repositories) > 0 && !slices.Contains(t.Repositories, im.Repository) {
			return nil
		}
		if len(out) >= maxListed {
			return fmt.Errorf("more than %d images listed", maxListed)
		}
		out = append(out, im)
		return nil
	}
	if len(t.Repositories) > 0 {
		for _, repo := range t.Repositories {
			tags, err := registry.Tags(ctx, t.Registry+"/"+repo, c.Insecure, o)
			if err != nil {
				return nil, fmt.Errorf("tags of %s/%s: %w", t.Registry, repo, err)
			}
			for _, tag := range tags {
				if err := keep(registries.Image{Repository: repo, Tag: tag}); err != nil {
					return nil, err
				}
			}
		}
	} else {
		login, err := e.Logins.Login(ctx, c)
		if err != nil {
			return nil, err
		}
		if err := e.lister(c.Kind).List(ctx, c, login, e.Guard.Transport(), keep); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Repository != out[j].Repository {
			return out[i].Repository < out[j].Repository
		}
		return out[i].Tag < out[j].Tag
	})
	return out, nil
}

// lister is the lister of a kind: its own API where one is wired, else
// the catalog.
func (e *Env) lister(k registries.Kind) registries.Lister {
	if l, ok := e.Listers[k]; ok {
		return l
	}
	return catalog.Lister{}
}
