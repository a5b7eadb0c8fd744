// Package changes is what a new report of an image changed against its
// previous one: findings added (a new advisory affects a package), findings
// resolved (an advisory was withdrawn, a whitelist rule now accepts it, a
// check was switched off) and severity changes. Continuous monitoring is
// built on it: a re-match after an advisory update writes one change
// record per image whose findings moved, and notifications are sent from
// the records.
package changes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Finding is a finding as a change lists it.
type Finding struct {
	Category scan.Category `json:"category"`
	ID       string        `json:"id"`
	Severity scan.Severity `json:"severity"`
	Title    string        `json:"title,omitempty"`
	Package  string        `json:"package,omitempty"`
	Path     string        `json:"path,omitempty"`
	Fixed    string        `json:"fixedVersion,omitempty"`
	// Was is the previous severity of a severity change.
	Was scan.Severity `json:"was,omitempty"`
}

// Change is one image's change record, at storekey.Change.
type Change struct {
	Digest string `json:"digest"`
	Ref    string `json:"ref"`
	// From and To are the advisory-DB versions of the two reports.
	From string `json:"from"`
	To   string `json:"to"`
	// Policy is the new report's whitelist and check selection.
	Policy   string    `json:"policy,omitempty"`
	Created  string    `json:"created"`
	Added    []Finding `json:"added"`
	Resolved []Finding `json:"resolved"`
	Severity []Finding `json:"severityChanged"`
}

// Empty reports whether nothing changed.
func (c *Change) Empty() bool { return len(c.Added)+len(c.Resolved)+len(c.Severity) == 0 }

func key(f scan.Finding) string {
	pkg := ""
	if f.Package != nil {
		pkg = f.Package.Type + "/" + f.Package.Name + "@" + f.Package.Version
	}
	return string(f.Category) + "|" + f.ID + "|" + pkg + "|" + f.Path
}

func view(f scan.Finding) Finding {
	v := Finding{Category: f.Category, ID: f.ID, Severity: f.Severity, Title: f.Title, Path: f.Path, Fixed: f.FixedVersion}
	if f.Package != nil {
		v.Package = f.Package.Name + " " + f.Package.Version
	}
	return v
}

// live indexes the findings that count (not whitelisted).
func live(r *report.Report) map[string]scan.Finding {
	m := make(map[string]scan.Finding, len(r.Findings))
	for _, f := range r.Findings {
		if !f.Whitelisted {
			m[key(f)] = f
		}
	}
	return m
}

// Diff compares the report of an image with its previous one.
func Diff(prev, next *report.Report, now time.Time) *Change {
	c := &Change{
		Digest: next.Image.Digest, Ref: next.Image.Ref, From: prev.AdvisoryDB.Version, To: next.AdvisoryDB.Version,
		Policy: next.Scanner.Policy, Created: now.UTC().Format(time.RFC3339), Added: []Finding{}, Resolved: []Finding{}, Severity: []Finding{},
	}
	was, is := live(prev), live(next)
	for k, f := range is {
		old, ok := was[k]
		switch {
		case !ok:
			c.Added = append(c.Added, view(f))
		case old.Severity != f.Severity:
			v := view(f)
			v.Was = old.Severity
			c.Severity = append(c.Severity, v)
		}
	}
	for k, f := range was {
		if _, ok := is[k]; !ok {
			c.Resolved = append(c.Resolved, view(f))
		}
	}
	for _, l := range [][]Finding{c.Added, c.Resolved, c.Severity} {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Severity.Rank() != l[j].Severity.Rank() {
				return l[i].Severity.Rank() > l[j].Severity.Rank()
			}
			return l[i].ID+l[i].Package < l[j].ID+l[j].Package
		})
	}
	return c
}

// Record stores a change once: a duplicate delivery of the re-match that
// made it writes nothing new.
func Record(ctx context.Context, st store.Store, c *Change) error {
	_, err := store.PutJSONIfAbsent(ctx, st, storekey.Change(c.Digest, c.From, c.To, c.Policy), c)
	return err
}

// Of lists an image's changes, oldest first.
func Of(ctx context.Context, st store.Store, digest string) ([]*Change, error) {
	keys, err := st.List(ctx, storekey.ChangesOf(digest))
	if err != nil {
		return nil, err
	}
	cs, _, err := read(ctx, st, keys, time.Time{}, 0)
	return cs, err
}

// Since lists every image's changes created at or after since (RFC 3339;
// "" for all), oldest first, at most limit of them (0: no limit); more
// says some were left off, for the caller to ask again from the last one's
// creation time.
func Since(ctx context.Context, st store.Store, since string, limit int) (cs []*Change, more bool, err error) {
	var from time.Time
	if since != "" {
		if from, err = time.Parse(time.RFC3339, since); err != nil {
			return nil, false, fmt.Errorf("since: %w", err)
		}
	}
	keys, err := st.List(ctx, storekey.ChangesPrefix)
	if err != nil {
		return nil, false, err
	}
	return read(ctx, st, keys, from, limit)
}

// read loads the changes created at or after from, the oldest limit of
// them: the list is cut back whenever it doubles, so a fleet's changes
// never sit in memory at once.
func read(ctx context.Context, st store.Store, keys []string, from time.Time, limit int) ([]*Change, bool, error) {
	oldest := func(a, b *Change) int { return strings.Compare(a.Created, b.Created) } // RFC 3339 UTC, seconds
	out := []*Change{}
	more := false
	cut := func() {
		slices.SortStableFunc(out, oldest)
		if limit > 0 && len(out) > limit {
			out, more = out[:limit], true
		}
	}
	for _, k := range keys {
		var c Change
		if err := store.GetJSON(ctx, st, k, &c); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, false, err
		}
		if created, err := time.Parse(time.RFC3339, c.Created); err == nil && created.Before(from) {
			continue
		}
		out = append(out, &c)
		if limit > 0 && len(out) >= 2*limit {
			cut()
		}
	}
	cut()
	return out, more, nil
}
