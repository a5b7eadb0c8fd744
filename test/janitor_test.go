package test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/janitor"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/storekey"
)

// TestJanitorRedrivesOnlyStuckScans: a scan that makes progress is left
// alone however old it is; one that makes none is re-driven with backoff
// and abandoned after MaxRedrives; a state that does not parse is skipped
// and reported, and the others are still tended.
func TestJanitorRedrivesOnlyStuckScans(t *testing.T) {
	d, st, _ := queueDeps(t)
	ctx := context.Background()
	id := planOne(t, d, "alpine-3.9-app.tar")
	jobs := queued(t, st, pipeline.StepAnalyzeLayer)
	if len(jobs) != 3 {
		t.Fatalf("%d jobs", len(jobs))
	}
	// One layer finishes now: progress.
	if err := d.RunQueued(ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	// The other two jobs are lost.
	st.Delete(ctx, jobs[1])
	st.Delete(ctx, jobs[2])
	st.Put(ctx, storekey.ScanState("20260101T000000Z-broken"), []byte("{not json"))

	now := time.Now()
	j := &janitor.Janitor{Steps: d, StuckAfter: 5 * time.Minute, Now: func() time.Time { return now }}
	for range 3 { // ticks within the window: the progress is recent
		res, err := j.Run(ctx)
		if err != nil || len(res.Redriven) != 0 || len(res.Unreadable) != 1 || res.Unreadable[0] != "20260101T000000Z-broken" {
			t.Fatalf("recent progress: %+v %v", res, err)
		}
	}
	// No progress: re-driven, then backed off 10, 20, 40 minutes.
	redriven := 0
	for _, step := range []time.Duration{6 * time.Minute, time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute} {
		now = now.Add(step)
		res, err := j.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		redriven += len(res.Redriven)
		for _, k := range queued(t, st, pipeline.StepAnalyzeLayer) {
			st.Delete(ctx, k) // lost again
		}
		if len(res.Abandoned) == 1 {
			break
		}
	}
	if redriven != janitor.MaxRedrives {
		t.Errorf("%d re-drives, want %d", redriven, janitor.MaxRedrives)
	}
	p, err := scanrecord.ReadProgress(ctx, st, id)
	if err != nil || p.Status != "abandoned" || p.Error == "" {
		t.Errorf("progress %+v %v", p, err)
	}
	now = now.Add(24 * time.Hour)
	if res, _ := j.Run(ctx); len(res.Redriven)+len(res.Abandoned) != 0 {
		t.Errorf("an abandoned scan was tended again: %+v", res)
	}
}

// TestJanitorExpiresWindows: de-duplication and throttle records of past
// days, windows and hours are deleted; current ones stay.
func TestJanitorExpiresWindows(t *testing.T) {
	d, st, _ := queueDeps(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	window := now.Unix() / int64(janitor.DigestWindow/time.Second)
	old := []string{
		storekey.EventSeen("20261128", "aa"),
		storekey.DigestQueued("sha256:"+strings.Repeat("a", 64), window-5),
		storekey.ThrottleSlot("harbor", "2026120107", 0),
	}
	current := []string{
		storekey.EventSeen("20261201", "bb"),
		storekey.EventSeen("20261130", "cc"),
		storekey.DigestQueued("sha256:"+strings.Repeat("b", 64), window),
		storekey.ThrottleSlot("harbor", "2026120110", 0),
		storekey.ThrottleSlot("harbor", "2026120109", 3),
	}
	for _, k := range append(append([]string{}, old...), current...) {
		if err := st.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	res, err := (&janitor.Janitor{Steps: d, StuckAfter: time.Hour, Now: func() time.Time { return now }}).Run(ctx)
	if err != nil || res.Expired != len(old) {
		t.Fatalf("expired %+v %v", res, err)
	}
	for _, k := range old {
		if ok, _ := st.Exists(ctx, k); ok {
			t.Errorf("%s stays", k)
		}
	}
	for _, k := range current {
		if ok, _ := st.Exists(ctx, k); !ok {
			t.Errorf("%s was deleted", k)
		}
	}
}
