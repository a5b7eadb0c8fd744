package quota

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/store"
)

func TestPerDigestPerCycle(t *testing.T) {
	st, _ := store.NewFS(t.TempDir())
	ctx := context.Background()
	three := 3
	m := Meter{Store: st, Period: "202612", Cycle: "c1", Purchased: &three}
	now := time.Now()
	want := []struct {
		digest string
		d      Decision
	}{{"sha256:a", Consumed}, {"sha256:a", AlreadyCounted}, {"sha256:b", Consumed}, {"sha256:a", AlreadyCounted}, {"sha256:c", Consumed}, {"sha256:d", Exhausted}, {"sha256:b", AlreadyCounted}, {"sha256:d", Exhausted}}
	for i, w := range want {
		got, err := m.Admit(ctx, w.digest, now)
		if err != nil || got != w.d {
			t.Errorf("%d %s: %v %v, want %v", i, w.digest, got, err, w.d)
		}
	}
	// A new cycle: the same digest consumes again, and the period's quota is spent.
	m.Cycle = "c2"
	if got, _ := m.Admit(ctx, "sha256:a", now); got != Exhausted {
		t.Errorf("next cycle: %v", got)
	}
	if n, _ := m.Consumed(ctx); n != 3 {
		t.Errorf("consumed %d", n)
	}
}

// TestConcurrentAdmissionsNeverOverCount: instances racing for the last
// units, and for the same digests, count exactly.
func TestConcurrentAdmissionsNeverOverCount(t *testing.T) {
	st, _ := store.NewFS(t.TempDir())
	ctx := context.Background()
	limit := 10
	m := Meter{Store: st, Period: "202612", Cycle: "c1", Purchased: &limit}
	var mu sync.Mutex
	consumed := map[string]int{}
	admitted := map[string]bool{} // consumed, or free because another paid
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := fmt.Sprintf("sha256:%02d", i%20) // each digest three times
			got, err := m.Admit(ctx, d, time.Now())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if got == Consumed {
				consumed[d]++
			}
			if got != Exhausted {
				admitted[d] = true
			}
		}()
	}
	wg.Wait()
	if len(admitted) != limit {
		t.Errorf("%d digests admitted, want %d: a free admission must be backed by a unit", len(admitted), limit)
	}
	if len(consumed) != limit {
		t.Errorf("%d digests consumed a unit, want %d", len(consumed), limit)
	}
	for d, n := range consumed {
		if n != 1 {
			t.Errorf("%s consumed %d units", d, n)
		}
	}
	if n, _ := m.Consumed(ctx); n != limit {
		t.Errorf("counted %d", n)
	}
}

// TestQuotaSetMidPeriod: units consumed while the quota was unlimited
// count against one set later.
func TestQuotaSetMidPeriod(t *testing.T) {
	st, _ := store.NewFS(t.TempDir())
	ctx := context.Background()
	m := Meter{Store: st, Period: "202612", Cycle: "c1"}
	m.Admit(ctx, "sha256:a", time.Now())
	two := 2
	m.Purchased = &two
	if got, _ := m.Admit(ctx, "sha256:b", time.Now()); got != Consumed {
		t.Errorf("b: %v", got)
	}
	if got, _ := m.Admit(ctx, "sha256:c", time.Now()); got != Exhausted {
		t.Errorf("c: %v", got)
	}
	if n, _ := m.Consumed(ctx); n != 2 {
		t.Errorf("consumed %d", n)
	}
}
