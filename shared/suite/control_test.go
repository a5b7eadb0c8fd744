package suite

import (
	"context"
	"fmt"
	"io"
	"log"
	"testing"

	"github.com/layerscan/layerscan/shared/quota"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/store"
)

// TestQuotaSetAfterUnlimitedUse: units consumed while the quota was
// unlimited count against the quota set later; it admits only what is
// left of it, not its whole size again.
func TestQuotaSetAfterUnlimitedUse(t *testing.T) {
	ctx := context.Background()
	fs, _ := store.NewFS(t.TempDir())
	e := NewEnv(Config{}, fs, nil, log.New(io.Discard, "", 0))
	period, _ := settings.Period(e.now())
	admit := func(m quota.Meter, from, n int) (consumed, exhausted int) {
		for i := from; i < from+n; i++ {
			d, err := m.Admit(ctx, fmt.Sprintf("sha256:%064x", i), e.now())
			if err != nil {
				t.Fatal(err)
			}
			switch d {
			case quota.Consumed:
				consumed++
			case quota.Exhausted:
				exhausted++
			}
		}
		return consumed, exhausted
	}
	if c, _ := admit(quota.Meter{Store: fs, Period: period, Cycle: "c1"}, 0, 1200); c != 1200 {
		t.Fatalf("unlimited: %d consumed", c)
	}
	s, err := e.PutSettings(ctx, []byte(`{"quota":{"purchased":1500}}`), -1, "test")
	if err != nil {
		t.Fatal(err)
	}
	c, x := admit(quota.Meter{Store: fs, Period: period, Cycle: "c1", Purchased: s.Quota.Purchased}, 1200, 400)
	if c != 300 || x != 100 {
		t.Errorf("after a quota of 1500 was set on 1200 used: %d consumed, %d refused; want 300 and 100", c, x)
	}
	if q, err := e.Quota(ctx); err != nil || q.Consumed != 1500 || !q.Exhausted {
		t.Errorf("quota view: %+v %v", q, err)
	}
}
