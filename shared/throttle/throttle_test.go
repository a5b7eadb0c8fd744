package throttle

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/store"
)

func TestTakeIsSharedAndHourly(t *testing.T) {
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 25 { // 25 concurrent admissions against a limit of 10
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := Take(context.Background(), st, "harbor", 10, now); err != nil {
				t.Error(err)
			} else if ok {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 10 {
		t.Errorf("%d admitted, want 10", admitted.Load())
	}
	if ok, _ := Take(context.Background(), st, "harbor", 10, now.Add(45*time.Minute)); !ok {
		t.Error("the next hour is throttled too")
	}
	if ok, _ := Take(context.Background(), st, "other", 10, now); !ok {
		t.Error("another registry is throttled")
	}
	if ok, _ := Take(context.Background(), st, "ecr", -1, now); !ok {
		t.Error("unlimited refused")
	}
}
