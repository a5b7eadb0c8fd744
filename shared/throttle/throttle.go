// Package throttle is the per-registry images-per-hour limit, shared by
// every function instance without a read-modify-write: each admitted image
// takes one create-once slot of the registry's current hour
// (storekey.ThrottleSlot, shared/slots: a few writes, no listing, while the
// hour is not nearly full); when every slot is taken, the image waits for
// the next hour (a later push, cycle or the janitor's requeue).
package throttle

import (
	"context"
	"fmt"
	"time"

	"github.com/layerscan/layerscan/shared/slots"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Take takes one of limit slots of registry's hour at now; it reports
// false when all are taken. A limit below zero admits everything.
func Take(ctx context.Context, st store.Store, registry string, limit int, now time.Time) (bool, error) {
	if limit < 0 {
		return true, nil
	}
	hour := now.UTC().Format("2006010215")
	p := slots.Pool{
		Store: st, Prefix: storekey.ThrottleHour(registry, hour), Limit: limit,
		Key: func(n int) string { return storekey.ThrottleSlot(registry, hour, n) },
	}
	_, ok, err := p.Take(ctx, []byte(now.UTC().Format(time.RFC3339)))
	if err != nil {
		return false, fmt.Errorf("throttle %s: %w", registry, err)
	}
	return ok, nil
}
