package pipeline

import (
	"context"
	"errors"

	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/report"
)

// Local returns a dispatcher that runs the steps of d in this process, and
// points d at it.
func (d *Deps) Local(ctx context.Context, workers int) *dispatch.Local {
	l := dispatch.NewLocal(ctx, workers)
	for _, step := range Steps {
		l.Handle(step, func(ctx context.Context, job []byte) error { return d.RunJob(ctx, step, job) })
	}
	d.Dispatch = l
	return l
}

// ScanLocal runs a whole scan in this process on a pool of workers and
// returns one report per selected image.
func (d *Deps) ScanLocal(ctx context.Context, req ScanRequest, workers int) ([]*report.Report, error) {
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
