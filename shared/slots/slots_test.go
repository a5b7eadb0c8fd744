package slots

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/layerscan/layerscan/shared/store"
)

func pool(t *testing.T, limit int) Pool {
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return Pool{Store: st, Prefix: "p/", Key: func(n int) string { return fmt.Sprintf("p/%04d", n) }, Number: func(k string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimPrefix(k, "p/"))
		return n, err == nil
	}, Limit: limit}
}

// TestTakeIsExactUnderConcurrency: many takers, never more than limit held.
func TestTakeIsExactUnderConcurrency(t *testing.T) {
	for _, tc := range []struct{ limit, takers int }{{0, 5}, {1, 10}, {7, 40}, {50, 50}, {30, 100}} {
		p := pool(t, tc.limit)
		var won atomic.Int64
		var wg sync.WaitGroup
		for range tc.takers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := p.Take(context.Background(), []byte("x"))
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		want := min(tc.limit, tc.takers)
		if int(won.Load()) != want {
			t.Errorf("limit %d, %d takers: %d won, want %d", tc.limit, tc.takers, won.Load(), want)
		}
		if n, _ := p.Count(context.Background()); n != want {
			t.Errorf("limit %d: %d slots exist, want %d", tc.limit, n, want)
		}
	}
}

func TestReleaseFreesASlot(t *testing.T) {
	p := pool(t, 2)
	ctx := context.Background()
	a, _, _ := p.Take(ctx, nil)
	p.Take(ctx, nil)
	if _, ok, _ := p.Take(ctx, nil); ok {
		t.Fatal("a third slot of two")
	}
	if err := p.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n, ok, _ := p.Take(ctx, nil); !ok || n != a {
		t.Errorf("after release: %d %v", n, ok)
	}
}

// TestLoweredLimitCountsSlotsTaken: slots taken under a higher limit
// still count against a lower one.
func TestLoweredLimitCountsSlotsTaken(t *testing.T) {
	p := pool(t, 10)
	ctx := context.Background()
	for range 3 {
		p.Take(ctx, nil)
	}
	p.Limit = 2
	if _, ok, _ := p.Take(ctx, nil); ok {
		t.Error("a slot under a lowered limit")
	}
	big := pool(t, 5000)
	for range 20 {
		if _, ok, err := big.Take(ctx, nil); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if n, _ := big.Count(ctx); n != 20 {
		t.Errorf("%d", n)
	}
}

// counting counts the store requests a Take makes: on OSS and S3 each is
// a round trip, and a List one per thousand keys.
type counting struct {
	store.Store
	lists, listed, puts int
}

func (c *counting) List(ctx context.Context, prefix string) ([]string, error) {
	ks, err := c.Store.List(ctx, prefix)
	c.lists++
	c.listed += len(ks)
	return ks, err
}

func (c *counting) PutIfAbsent(ctx context.Context, key string, data []byte) (bool, error) {
	c.puts++
	return c.Store.PutIfAbsent(ctx, key, data)
}

// BenchmarkTake measures the requests per slot taken, filling a pool to
// 80%: a throttle's hour (listed) and a billing period's quota (probed).
func BenchmarkTake(b *testing.B) {
	for _, limit := range []int{200, 5000} {
		b.Run(fmt.Sprint("limit=", limit), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				st, _ := store.NewFS(b.TempDir())
				c := &counting{Store: st}
				p := Pool{Store: c, Prefix: "p/", Key: func(n int) string { return fmt.Sprintf("p/%08d", n) }, Limit: limit}
				b.StartTimer()
				n := limit * 8 / 10
				for range n {
					if _, ok, err := p.Take(context.Background(), nil); !ok || err != nil {
						b.Fatal(ok, err)
					}
				}
				b.ReportMetric(float64(c.puts)/float64(n), "puts/take")
				b.ReportMetric(float64(c.lists)/float64(n), "lists/take")
				b.ReportMetric(float64(c.listed)/float64(n), "keys-listed/take")
			}
		})
	}
}

// TestCompactAfterTheLimitIsSet: slots taken while the pool was unlimited
// are numbered anywhere, where a limit's random probes never meet them;
// once compacted, the limit counts them again, exactly.
func TestCompactAfterTheLimitIsSet(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name                      string
		before, limit             int
		wantMoved, wantAbove, get int
	}{
		{"set above what was used", 1200, 1500, 1200, 0, 300},
		{"set below what was used", 1200, 1000, 1000, 200, 0},
		{"lowered within the listed size", 30, 20, 20, 10, 0},
	} {
		p := pool(t, 1<<31)
		for range tc.before {
			if _, ok, err := p.Take(ctx, []byte("d")); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		p.Limit = tc.limit
		moved, above, err := p.Compact(ctx)
		if err != nil || moved != tc.wantMoved || above != tc.wantAbove {
			t.Errorf("%s: moved %d, %d above, %v", tc.name, moved, above, err)
		}
		got := 0
		for {
			_, ok, err := p.Take(ctx, []byte("d"))
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if got++; got > tc.limit {
				t.Fatalf("%s: more slots than the limit", tc.name)
			}
		}
		if n, _ := p.Count(ctx); got != tc.get || n != max(tc.before, tc.limit) {
			t.Errorf("%s: %d more taken, %d in all; want %d more", tc.name, got, n, tc.get)
		}
	}
}
