package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// WaitsUpTo are doubling pauses, from 100 ms, that add up to about total.
func WaitsUpTo(total time.Duration) []time.Duration {
	var out []time.Duration
	for w, sum := 100*time.Millisecond, time.Duration(0); sum < total; w *= 2 {
		w = min(w, total-sum)
		out = append(out, w)
		sum += w
	}
	return out
}

// RunQueued runs the job object at key (queue/<step>/<id>.json) and deletes
// it once done. A job object that is still gone after d.VisibilityWaits was
// run by an earlier delivery; a job whose scan is gone is dropped. Any
// other error leaves the object for the platform's retry and the janitor.
func (d *Steps) RunQueued(ctx context.Context, key string) error {
	step, ok := storekey.StepOf(key)
	if !ok {
		return fmt.Errorf("%s is not a job object key (queue/<step>/<id>.json)", key)
	}
	b, err := d.Store.Get(ctx, key)
	for _, wait := range d.VisibilityWaits {
		if !errors.Is(err, store.ErrNotFound) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		b, err = d.Store.Get(ctx, key)
	}
	if errors.Is(err, store.ErrNotFound) {
		d.logf("job %s: already done", key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", key, err)
	}
	env, err := dispatch.Decode(b, step)
	if err == nil {
		err = d.Handlers().Run(ctx, env)
	}
	if errors.Is(err, scanrecord.ErrScanGone) {
		d.logf("job %s: %v; dropped", key, err)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", key, err)
	}
	return d.Store.Delete(ctx, key)
}

// Local returns a dispatcher that runs the steps of d in this process, and
// points d at it.
func (d *Steps) Local(ctx context.Context, workers int) *dispatch.Local {
	l := dispatch.NewLocal(ctx, workers, d.Handlers())
	d.Dispatch = l
	return l
}

// ScanLocal runs a whole scan in this process on a pool of workers and
// returns one report per selected image.
func (d *Steps) ScanLocal(ctx context.Context, req scanrecord.Request, workers int) ([]*report.Report, error) {
	pool := d.Local(ctx, workers)
	ids, planErr := d.Plan(ctx, req)
	errs := pool.Wait()
	if planErr != nil {
		return nil, planErr
	}
	var out []*report.Report
	for _, id := range ids {
		r, err := d.LoadResult(ctx, id)
		if err != nil {
			return out, errors.Join(append([]error{err}, errs...)...)
		}
		out = append(out, r)
	}
	return out, nil
}

// LoadResult returns the report of a finished scan.
func (d *Steps) LoadResult(ctx context.Context, scanID string) (*report.Report, error) {
	res, ok, err := scanrecord.LoadResult(ctx, d.Store, scanID)
	if err == nil && !ok {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("scan %s has no report: %w", scanID, err)
	}
	var r report.Report
	if err := store.GetJSON(ctx, d.Store, res.ReportKey, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
