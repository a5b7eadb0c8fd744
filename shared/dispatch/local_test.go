package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

type leaf struct {
	Fail bool `json:"fail"`
}

func (leaf) Step() string { return "leaf" }

type fan struct{}

func (fan) Step() string { return "fan" }

func TestLocal(t *testing.T) {
	var running, peak, done atomic.Int32
	h := Handlers{}
	l := NewLocal(context.Background(), 2, h)
	h["leaf"] = Typed(func(ctx context.Context, j leaf) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer running.Add(-1)
		done.Add(1)
		if j.Fail {
			return errors.New("boom")
		}
		return nil
	})
	// A job that enqueues more jobs, as analyze-layer enqueues build-report.
	h["fan"] = Typed(func(ctx context.Context, _ fan) error {
		for i := 0; i < 5; i++ {
			if err := Enqueue(ctx, l, leaf{}); err != nil {
				return err
			}
		}
		return Enqueue(ctx, l, leaf{Fail: true})
	})
	if err := Enqueue(context.Background(), l, fan{}); err != nil {
		t.Fatal(err)
	}
	errs := l.Wait()
	if done.Load() != 6 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "leaf: boom") {
		t.Errorf("done %d, errors %v", done.Load(), errs)
	}
	if peak.Load() > 2 {
		t.Errorf("%d jobs ran at once on a pool of 2", peak.Load())
	}
	if err := l.Dispatch(context.Background(), Envelope{Step: "nope"}); err == nil {
		t.Error("a step without handler was accepted")
	}
}

func TestQueueEnvelope(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := &Queue{Store: st, Now: func() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) }}
	if err := Enqueue(ctx, q, leaf{Fail: true}); err != nil {
		t.Fatal(err)
	}
	keys, _ := st.List(ctx, storekey.QueueStep("leaf"))
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "queue/leaf/") || !strings.HasSuffix(keys[0], "-20261122T000000.000Z.json") {
		t.Fatalf("job objects %v", keys)
	}
	b, _ := st.Get(ctx, keys[0])
	e, err := Decode(b, "leaf")
	if err != nil || e.Step != "leaf" || string(e.Job) != `{"fail":true}` {
		t.Errorf("envelope %+v %v", e, err)
	}
	if _, err := Decode(b, "other"); err == nil {
		t.Error("an envelope under another step's prefix was accepted")
	}
	// A bare job, as written before envelopes: the key names its step.
	e, err = Decode([]byte(`{"fail":true}`), "leaf")
	if err != nil || e.Step != "leaf" || string(e.Job) != `{"fail":true}` {
		t.Errorf("legacy job %+v %v", e, err)
	}
	if _, err := Decode([]byte(`[1]`), "leaf"); err == nil {
		t.Error("a non-object job was accepted")
	}
	var got leaf
	if err := (Handlers{"leaf": Typed(func(_ context.Context, j leaf) error { got = j; return nil })}).Run(ctx, e); err != nil || !got.Fail {
		t.Errorf("run: %v %+v", err, got)
	}
	if err := q.Dispatch(ctx, Envelope{Step: "../x", Job: json.RawMessage(`{}`)}); err == nil {
		t.Error("a step name with a slash was accepted")
	}
}

func TestPanicIsTheJobsError(t *testing.T) {
	h := Handlers{"leaf": Typed(func(context.Context, leaf) error { panic("hostile input") })}
	l := NewLocal(context.Background(), 1, h)
	if err := Enqueue(context.Background(), l, leaf{}); err != nil {
		t.Fatal(err)
	}
	if errs := l.Wait(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "panicked: hostile input") {
		t.Errorf("errors %v", errs)
	}
}
