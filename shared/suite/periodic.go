package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/layerscan/layerscan/shared/event"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
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
		insecure := c.Insecure
		repos := t.Repositories
		if len(repos) == 0 {
			all, err := registry.Repositories(ctx, t.Registry, insecure, o)
			if err != nil {
				return nil, fmt.Errorf("catalog of %s: %w", t.Registry, err)
			}
			repos = all
		}
		sort.Strings(repos)
		for _, repo := range repos {
			tags, err := registry.Tags(ctx, t.Registry+"/"+repo, insecure, o)
			if err != nil {
				return nil, fmt.Errorf("tags of %s/%s: %w", t.Registry, repo, err)
			}
			sort.Strings(tags)
			for _, tag := range tags {
				if !t.wants(tag) {
					continue
				}
				if len(out.Images) >= max {
					out.Ignored = fmt.Sprintf("stopped at maxImages=%d", max)
					return json.Marshal(out)
				}
				ref := t.Registry + "/" + repo + ":" + tag
				digest, err := registry.Resolve(ctx, ref, insecure, o)
				if err != nil {
					return nil, err
				}
				pinned := t.Registry + "/" + repo + "@" + digest
				req := scanrecord.Request{Source: source.Ref{Kind: source.KindRegistry, Location: pinned, Insecure: insecure}, AllPlatforms: true, Trigger: "timer"}
				if err := d.Submit(ctx, req); err != nil {
					return nil, err
				}
				out.Images = append(out.Images, pinned)
			}
		}
	}
	return json.Marshal(out)
}
