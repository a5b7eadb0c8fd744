package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/store"
)

// JanitorResult says what one janitor run did.
type JanitorResult struct {
	Redriven     []string `json:"redriven,omitempty"`     // scans given their missing jobs again
	RequeuedJobs []string `json:"requeuedJobs,omitempty"` // job objects nobody consumed
	Deleted      []string `json:"deleted,omitempty"`      // scans past retention
}

// Janitor re-drives scans stuck past stuckAfter (a worker died, a
// notification was lost): layers without a done marker get their
// analyze-layer job again, a finished scan without a claim gets its fan-in,
// a claimed scan without a result gets build-report again. Job objects older
// than stuckAfter are written anew, which triggers their function again.
// Finished scans older than retention (when > 0) are deleted. Every step it
// re-drives is idempotent, so running janitor twice is harmless.
func (d *Deps) Janitor(ctx context.Context, stuckAfter, retention time.Duration) (*JanitorResult, error) {
	res := &JanitorResult{}
	now := d.now()
	keys, err := d.Store.List(ctx, "scans/")
	if err != nil {
		return nil, err
	}
	scans := map[string]map[string]bool{}
	for _, k := range keys {
		id, rest, ok := strings.Cut(strings.TrimPrefix(k, "scans/"), "/")
		if !ok {
			continue
		}
		if scans[id] == nil {
			scans[id] = map[string]bool{}
		}
		scans[id][rest] = true
	}
	ids := make([]string, 0, len(scans))
	for id := range scans {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		files := scans[id]
		st, err := d.loadState(ctx, id)
		if errors.Is(err, ErrScanGone) {
			continue // markers of a scan whose state is gone: retention's leftovers
		}
		if err != nil {
			return res, err
		}
		created, _ := time.Parse(time.RFC3339, st.Created)
		age := now.Sub(created)
		if files["result.json"] {
			if retention > 0 && age > retention {
				for f := range files {
					if err := d.Store.Delete(ctx, "scans/"+id+"/"+f); err != nil {
						return res, err
					}
				}
				res.Deleted = append(res.Deleted, id)
			}
			continue
		}
		if age < stuckAfter {
			continue
		}
		redriven := false
		for diffID := range uniqueDiffIDs(st.Layers) {
			if files["done/"+diffID] {
				continue
			}
			for _, l := range st.Layers {
				if l.DiffID == diffID {
					job, _ := json.Marshal(LayerJob{ScanID: st.ID, Source: st.Source, Layer: l})
					if err := d.Dispatch.Dispatch(ctx, StepAnalyzeLayer, job); err != nil {
						return res, err
					}
					redriven = true
					break
				}
			}
		}
		if !redriven {
			if files["claim"] {
				job, _ := json.Marshal(ReportJob{ScanID: st.ID})
				if err := d.Dispatch.Dispatch(ctx, StepBuildReport, job); err != nil {
					return res, err
				}
			} else if err := d.tryFinish(ctx, st); err != nil {
				return res, err
			}
		}
		res.Redriven = append(res.Redriven, id)
		d.logf("janitor: scan %s re-driven after %s", id, age.Round(time.Second))
	}
	jobs, err := d.Store.List(ctx, dispatch.QueuePrefix)
	if err != nil {
		return res, err
	}
	for _, k := range jobs {
		step, ok := dispatch.StepOf(k)
		if !ok {
			continue
		}
		stamp, _, _ := strings.Cut(k[strings.LastIndexByte(k, '/')+1:], "-")
		t, err := time.Parse("20060102T150405.000Z", stamp)
		if err != nil || now.Sub(t) < stuckAfter {
			continue
		}
		job, err := d.Store.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue // consumed meanwhile
		}
		if err != nil {
			return res, err
		}
		if err := d.Dispatch.Dispatch(ctx, step, job); err != nil {
			return res, fmt.Errorf("requeue %s: %w", k, err)
		}
		if err := d.Store.Delete(ctx, k); err != nil {
			return res, err
		}
		res.RequeuedJobs = append(res.RequeuedJobs, k)
	}
	return res, nil
}
