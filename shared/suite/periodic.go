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
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
)

// PeriodicScan is the timer (hourly, say): it starts the scan cycle's
// task when a cycle is due (once, however many instances run), then
// advances every open task: images that waited for their registry's
// throttle start now, and images not started by a task's deadline are
// skipped.
func (e *Env) PeriodicScan(ctx context.Context, body []byte) ([]byte, error) {
	if _, err := event.ParseTimer(body); err != nil {
		return nil, badEvent(err)
	}
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	out := &Outcome{}
	detail := map[string]any{}
	now := e.now()
	if cycle, _, due := s.Scan.CycleAt(now); due {
		id := "cycle-" + cycle
		detail["cycle"] = cycle
		exists, err := e.Store.Exists(ctx, storekey.Task(id))
		if err != nil {
			return nil, err
		}
		if !exists {
			set, err := e.Live.Set(ctx)
			if err != nil {
				return nil, err
			}
			items, errs := e.listScope(ctx, s, set.All())
			t := e.newTask(s, task.Periodic, "timer", "scan cycle "+cycle, items)
			t.ID, t.Errors = id, errs
			created, err := task.Create(ctx, e.Store, t)
			if err != nil {
				return nil, err
			}
			if created {
				out.Task = id
				e.Log.Printf("periodic-scan: cycle %s: task %s with %d image(s)", cycle, id, len(items))
			}
		}
	} else {
		out.Ignored = "the scan cycle is stopped: no periodic scans"
	}
	if s.Fix.Auto {
		id, err := e.autoFix(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("automatic fixing: %w", err)
		}
		if id != "" {
			detail["fixTask"] = id
		}
	}
	open, err := task.Open(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	var views []*task.View
	for _, id := range open {
		t, err := task.Load(ctx, e.Store, id)
		if errors.Is(err, task.ErrNotFound) {
			e.Store.Delete(ctx, storekey.TaskOpen(id))
			continue
		}
		if err != nil {
			return nil, err
		}
		v, started, err := e.advance(ctx, t, s)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", id, err)
		}
		out.Images = append(out.Images, started...)
		v.Log = nil
		views = append(views, v)
	}
	detail["tasks"] = views
	out.Detail = detail
	return json.Marshal(out)
}

// ScanNow scans the scope now in the connections of the given kinds
// (none: every kind), as one task.
func (e *Env) ScanNow(ctx context.Context, kinds []string, trigger string) (*task.View, error) {
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	set, err := e.Live.Set(ctx)
	if err != nil {
		return nil, err
	}
	var conns []*registries.Connection
	for _, c := range set.All() {
		if len(kinds) == 0 || slices.ContainsFunc(kinds, func(k string) bool { return kindIs(c.Kind, k) }) {
			conns = append(conns, c)
		}
	}
	if len(conns) == 0 {
		return nil, BadEvent{fmt.Errorf("no registry connection of type %v", kinds)}
	}
	items, errs := e.listScope(ctx, s, conns)
	scope := "every registry type"
	if len(kinds) > 0 {
		scope = "registry types " + strings.Join(kinds, ", ")
	}
	t := e.newTask(s, task.ScanNow, trigger, scope, items)
	t.Errors = errs
	if _, err := task.Create(ctx, e.Store, t); err != nil {
		return nil, err
	}
	v, _, err := e.advance(ctx, t, s)
	return v, err
}

// kindIs matches a registry type as the seed's Scan Now dialog names it
// ("acr" is ACR EE) against a connection kind.
func kindIs(k registries.Kind, name string) bool {
	return string(k) == name || name == "acr" && k == registries.ACREE
}

// validRegistryType reports whether name is a registry type ScanNow takes.
func validRegistryType(name string) bool {
	return name == "acr" || slices.Contains(registries.Kinds, registries.Kind(name))
}

// newTask is a task over items at now, with the settings' timeout and the
// scan cycle and billing period it counts quota in.
func (e *Env) newTask(s settings.Settings, typ, trigger, scope string, items []task.Item) *task.Task {
	now := e.now()
	cycle, _, _ := s.Scan.CycleAt(now)
	period, _ := settings.Period(now)
	return &task.Task{
		ID: task.NewID(now), Type: typ, Trigger: trigger, Scope: scope, Cycle: cycle, Period: period,
		Created: now.Format(time.RFC3339), Deadline: now.Add(s.Task.Timeout()).Format(time.RFC3339), Items: items,
	}
}

// maxListed bounds what one listing may hold in memory.
const maxListed = 100_000

// listScope lists the images of the scope in conns: each connection the
// rules name, listed by its kind's API (or the tags of the repositories
// the rules name), filtered by the rules and, with auto-add off, by when
// each repository was first seen. A connection that cannot be listed is
// reported, and the others are still listed.
func (e *Env) listScope(ctx context.Context, s settings.Settings, conns []*registries.Connection) ([]task.Item, []string) {
	var items []task.Item
	var errs []string
	for _, c := range conns {
		sc := settings.Connection{ID: c.ID, Hosts: c.Hosts}
		if !s.Scan.Names(sc) || len(c.Hosts) == 0 {
			continue
		}
		images, err := e.listConnection(ctx, c, s.Scan, sc)
		if err != nil {
			errs = append(errs, fmt.Sprintf("listing %s: %v", c.ID, err))
			e.Log.Printf("listing %s: %v", c.ID, err)
			continue
		}
		seen := map[string]time.Time{}
		for _, im := range images {
			if !s.Scan.InScope(sc, im.Repository, im.Tag) {
				continue
			}
			first, ok := seen[im.Repository]
			if !ok {
				if first, err = e.firstSeen(ctx, c.ID, im.Repository); err != nil {
					errs = append(errs, err.Error())
					continue
				}
				seen[im.Repository] = first
			}
			if s.Scan.Frozen(first) {
				continue
			}
			it := task.Item{Registry: c.ID, Host: c.Hosts[0], Repository: im.Repository, Tag: im.Tag, Digest: im.Digest}
			if !im.Pushed.IsZero() {
				it.Updated = im.Pushed.UTC().Format(time.RFC3339)
			}
			items = append(items, it)
		}
	}
	return items, errs
}

// firstSeen is when a listing first saw a repository of a connection.
func (e *Env) firstSeen(ctx context.Context, conn, repo string) (time.Time, error) {
	key := storekey.ScopeSeen(conn, repo)
	now := e.now()
	created, err := e.Store.PutIfAbsent(ctx, key, []byte(now.Format(time.RFC3339)))
	if err != nil || created {
		return now, err
	}
	b, err := e.Store.Get(ctx, key)
	if err != nil {
		return now, err
	}
	t, err := time.Parse(time.RFC3339, string(b))
	if err != nil {
		return now, fmt.Errorf("%s: %w", key, err)
	}
	return t, nil
}

// repositoriesOnly returns the repositories the rules naming c list, when
// every such rule names repositories only (no namespace, not the whole
// registry): then their tags are listed instead of the whole registry.
func repositoriesOnly(s settings.Scan, sc settings.Connection) ([]string, bool) {
	var repos []string
	for _, r := range s.Scope {
		if !r.Names(sc) {
			continue
		}
		if len(r.Namespaces) > 0 || len(r.Repositories) == 0 {
			return nil, false
		}
		repos = append(repos, r.Repositories...)
	}
	slices.Sort(repos)
	return slices.Compact(repos), len(repos) > 0
}

// listConnection lists the images of one connection, sorted by
// repository and tag.
func (e *Env) listConnection(ctx context.Context, c *registries.Connection, s settings.Scan, sc settings.Connection) ([]registries.Image, error) {
	var out []registries.Image
	keep := func(im registries.Image) error {
		if len(out) >= maxListed {
			return fmt.Errorf("more than %d images listed", maxListed)
		}
		out = append(out, im)
		return nil
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	o := source.Apply(d.Registry...)
	if repos, ok := repositoriesOnly(s, sc); ok {
		for _, repo := range repos {
			tags, err := registry.Tags(ctx, c.Hosts[0]+"/"+repo, c.Insecure, o)
			if err != nil {
				return nil, fmt.Errorf("tags of %s/%s: %w", c.Hosts[0], repo, err)
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

// recordScope lists the scope once so that every repository in it now is
// known as seen before auto-add is switched off.
func (e *Env) recordScope(ctx context.Context, s settings.Settings) error {
	set, err := e.Live.Set(ctx)
	if err != nil {
		return err
	}
	if _, errs := e.listScope(ctx, s, set.All()); len(errs) > 0 {
		return fmt.Errorf("auto-add is switched off, so the scope's repositories must be listed now: %s", strings.Join(errs, "; "))
	}
	return nil
}
