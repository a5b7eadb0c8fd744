package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

func TestLocal(t *testing.T) {
	l := NewLocal(context.Background(), 2)
	var running, peak, done atomic.Int32
	l.Handle("leaf", func(ctx context.Context, job []byte) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer running.Add(-1)
		done.Add(1)
		if string(job) == "fail" {
			return errors.New("boom")
		}
		return nil
	})
	// A job that dispatches more jobs, as analyze-layer dispatches build-report.
	l.Handle("fan", func(ctx context.Context, job []byte) error {
		for i := 0; i < 5; i++ {
			if err := l.Dispatch(ctx, "leaf", []byte("ok")); err != nil {
				return err
			}
		}
		return l.Dispatch(ctx, "leaf", []byte("fail"))
	})
	if err := l.Dispatch(context.Background(), "fan", nil); err != nil {
		t.Fatal(err)
	}
	errs := l.Wait()
	if done.Load() != 6 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "leaf: boom") {
		t.Errorf("done %d, errors %v", done.Load(), errs)
	}
	if peak.Load() > 2 {
		t.Errorf("%d jobs ran at once on a pool of 2", peak.Load())
	}
	if err := l.Dispatch(context.Background(), "nope", nil); err == nil {
		t.Error("a step without handler was accepted")
	}
}

func TestStepOf(t *testing.T) {
	for key, want := range map[string]string{
		"queue/analyze-layer/20261122T000000.000Z-ab.json": "analyze-layer",
		"queue/x.json": "", "queue/a/b/c.json": "", "layers/x/y.json": "", "queue/a/b.txt": "",
	} {
		got, ok := StepOf(key)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v", key, got, ok)
		}
	}
}
