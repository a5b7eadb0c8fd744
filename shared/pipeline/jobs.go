package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/store"
)

// StepScanImage is the step that plans a scan: resolve, record, fan out.
const StepScanImage = "scan-image"

// Steps lists every step a job can name.
var Steps = []string{StepScanImage, StepAnalyzeLayer, StepBuildReport}

// ErrScanGone means a job refers to a scan whose state no longer exists
// (deleted by retention, or never written): the job has nothing to do.
var ErrScanGone = errors.New("scan no longer exists")

// RunJob runs one job of a step; it is what every dispatcher delivers.
func (d *Deps) RunJob(ctx context.Context, step string, job []byte) error {
	switch step {
	case StepScanImage:
		var req ScanRequest
		if err := json.Unmarshal(job, &req); err != nil {
			return fmt.Errorf("%s job: %w", step, err)
		}
		_, err := d.Plan(ctx, req)
		return err
	case StepAnalyzeLayer:
		var j LayerJob
		if err := json.Unmarshal(job, &j); err != nil {
			return fmt.Errorf("%s job: %w", step, err)
		}
		return d.AnalyzeLayer(ctx, j)
	case StepBuildReport:
		var j ReportJob
		if err := json.Unmarshal(job, &j); err != nil {
			return fmt.Errorf("%s job: %w", step, err)
		}
		_, err := d.BuildReport(ctx, j)
		return err
	}
	return fmt.Errorf("unknown step %q", step)
}

// RunQueued runs the job object at key (queue/<step>/<id>.json) and deletes
// it once done. A job object that is already gone was run by an earlier
// delivery; a job whose scan is gone is dropped. Any other error leaves the
// object for the platform's retry and the janitor.
func (d *Deps) RunQueued(ctx context.Context, key string) error {
	step, ok := dispatch.StepOf(key)
	if !ok {
		return fmt.Errorf("%s is not a job object key (queue/<step>/<id>.json)", key)
	}
	job, err := d.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		d.logf("job %s: already done", key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", key, err)
	}
	err = d.RunJob(ctx, step, job)
	if errors.Is(err, ErrScanGone) {
		d.logf("job %s: %v; dropped", key, err)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", key, err)
	}
	return d.Store.Delete(ctx, key)
}
