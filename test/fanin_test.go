package test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/layerscan/layerscan/shared/builtin"
	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/janitor"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// queued returns the job keys of a step, oldest first.
func queued(t *testing.T, st store.Store, step string) []string {
	keys, err := st.List(context.Background(), storekey.QueuePrefix+step+"/")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

func queueDeps(t *testing.T) (*pipeline.Steps, store.Store, string) {
	dir := t.TempDir()
	copyDB(t, dir)
	st, err := store.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.Steps{Store: st, Dispatch: &dispatch.Queue{Store: st}, Analyzers: builtin.Set(), Sources: builtin.Sources()}, st, dir
}

// drain runs queued jobs until none is left, as the platform would.
func drain(t *testing.T, d *pipeline.Steps, st store.Store) {
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		keys, _ := st.List(ctx, storekey.QueuePrefix)
		if len(keys) == 0 {
			return
		}
		for _, k := range keys {
			if err := d.RunQueued(ctx, k); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
		}
	}
	t.Fatal("the queue does not drain")
}

func planOne(t *testing.T, d *pipeline.Steps, image string) string {
	ids, err := d.Plan(context.Background(), scanrecord.Request{Source: corpusImage(t, image)})
	if err != nil || len(ids) != 1 {
		t.Fatalf("plan: %v %v", ids, err)
	}
	return ids[0]
}

// TestWorkerDiesBeforeItsMarker: a worker writes a layer's facts and dies
// before its done marker (its job object already consumed, so nothing
// retries it). The janitor re-drives the layer; the re-run finds the facts,
// marks the layer cached, and the scan finishes.
func TestWorkerDiesBeforeItsMarker(t *testing.T) {
	d, st, _ := queueDeps(t)
	ctx := context.Background()
	id := planOne(t, d, "alpine-3.9-app.tar")
	jobs := queued(t, st, pipeline.StepAnalyzeLayer)
	if len(jobs) != 3 {
		t.Fatalf("%d layer jobs, want 3", len(jobs))
	}
	// The dying worker: facts written, marker not, job object gone.
	var j pipeline.LayerJob
	b, _ := st.Get(ctx, jobs[0])
	env, err := dispatch.Decode(b, pipeline.StepAnalyzeLayer)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(env.Job, &j)
	layer, err := d.Sources.Layer(ctx, j.Source, v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(j.Layer.Digest, "sha256:")}, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	facts, err := d.Analyzers.Analyze(ctx, blob, j.Layer.Digest, j.Layer.DiffID)
	blob.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutJSON(ctx, st, "layers/"+j.Layer.DiffID+"/"+d.Analyzers.Version()+".json.zst", facts); err != nil {
		t.Fatal(err)
	}
	st.Delete(ctx, jobs[0])
	drain(t, d, st)
	if _, err := d.LoadResult(ctx, id); err == nil {
		t.Fatal("the scan finished without its third layer")
	}
	// Not stuck yet: nothing happens.
	if res, err := (&janitor.Janitor{Steps: d, StuckAfter: time.Hour, Retention: 0}).Run(ctx); err != nil || len(res.Redriven) != 0 {
		t.Fatalf("janitor before the timeout: %+v %v", res, err)
	}
	res, err := (&janitor.Janitor{Steps: d, StuckAfter: 0, Retention: 0}).Run(ctx)
	if err != nil || len(res.Redriven) != 1 || res.Redriven[0] != id {
		t.Fatalf("janitor: %+v %v", res, err)
	}
	drain(t, d, st)
	r, err := d.LoadResult(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Complete || r.Layers[j.Layer.Index].Status != "cached" {
		t.Errorf("complete=%v layer %d status %s", r.Complete, j.Layer.Index, r.Layers[j.Layer.Index].Status)
	}
	// Janitor again: nothing left to do.
	if res, _ := (&janitor.Janitor{Steps: d, StuckAfter: 0, Retention: 0}).Run(ctx); len(res.Redriven) != 0 {
		t.Errorf("second janitor run re-drove %v", res.Redriven)
	}
}

// TestLastLayersFinishTogether: the last layers finish at the same moment
// on several workers, every job delivered twice; exactly one claim, one
// build-report job.
func TestLastLayersFinishTogether(t *testing.T) {
	for round := 0; round < 5; round++ {
		d, st, _ := queueDeps(t)
		ctx := context.Background()
		planOne(t, d, "debian-bookworm-app")
		jobs := queued(t, st, pipeline.StepAnalyzeLayer)
		var wg sync.WaitGroup
		for _, k := range jobs {
			b, _ := st.Get(ctx, k)
			for dup := 0; dup < 2; dup++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					env, err := dispatch.Decode(b, pipeline.StepAnalyzeLayer)
					if err == nil {
						err = d.Handlers().Run(ctx, env)
					}
					if err != nil {
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		if n := len(queued(t, st, pipeline.StepBuildReport)); n != 1 {
			t.Fatalf("round %d: %d build-report jobs, want 1", round, n)
		}
	}
}

// TestJobOfDeletedScan: retention removed a scan while a job of it was in
// flight; the job is dropped, not retried forever.
func TestJobOfDeletedScan(t *testing.T) {
	d, st, dir := queueDeps(t)
	ctx := context.Background()
	id := planOne(t, d, "rpm-rhel-8.8-bdb.tar")
	os.RemoveAll(filepath.Join(dir, "scans", id))
	jobs := queued(t, st, pipeline.StepAnalyzeLayer)
	if len(jobs) == 0 {
		t.Fatal("no jobs")
	}
	for _, k := range jobs {
		if err := d.RunQueued(ctx, k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if left := queued(t, st, pipeline.StepAnalyzeLayer); len(left) != 0 {
		t.Errorf("jobs left: %v", left)
	}
	// A delivery of a job already run finds nothing to do.
	if err := d.RunQueued(ctx, jobs[0]); err != nil {
		t.Errorf("redelivery: %v", err)
	}
	if err := d.RunQueued(ctx, "queue/no-such/../x.json"); err == nil {
		t.Error("bad key accepted")
	}
}

// TestLayerFailsForGood: a layer whose blob is corrupt fails on every
// delivery; the scan still finishes, and its report says what is missing.
func TestLayerFailsForGood(t *testing.T) {
	d, st, _ := queueDeps(t)
	ctx := context.Background()
	src := corruptImage(t)
	ids, err := d.Plan(ctx, scanrecord.Request{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, d, st)
	r, err := d.LoadResult(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Complete || r.Layers[1].Status != "failed" || len(r.Errors) == 0 || !strings.Contains(r.Errors[0], "layer 1") {
		t.Errorf("complete=%v layers=%+v errors=%v", r.Complete, r.Layers, r.Errors)
	}
	p, err := scanrecord.ReadProgress(ctx, st, ids[0])
	if err != nil || p.Status != "incomplete" {
		t.Errorf("progress %+v %v", p, err)
	}
}
