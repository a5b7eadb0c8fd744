// Package quota counts image scans against the purchased quota the way
// the service layerscan replaces bills them: one unit per image digest per
// scan cycle, however often that digest is scanned in the cycle, within
// a monthly billing period. Every count is a create-once object: the
// digest's unit of a cycle (storekey.QuotaDigest), and, when the quota is
// limited, one of the period's purchased slots (shared/slots), so that
// function instances admitting scans at once never count more than was
// bought.
package quota

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/slots"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Decision is what Admit decided.
type Decision int

// Decisions.
const (
	// Consumed: the digest's first scan in the cycle took one unit.
	Consumed Decision = iota
	// AlreadyCounted: the digest was admitted earlier in the cycle.
	AlreadyCounted
	// Exhausted: no unit is left; the scan is refused.
	Exhausted
)

// Meter is one billing period's counter.
type Meter struct {
	Store store.Store
	// Period (YYYYMM) and Cycle (the scan cycle's ID) the digest is counted in.
	Period, Cycle string
	// Purchased units of the period; nil is unlimited.
	Purchased *int
}

// unlimited is the pool size of an unlimited quota: every unit still
// takes a slot, so that a quota set later in the period counts what was
// consumed before it.
const unlimited = 1 << 31

func (m Meter) pool() slots.Pool {
	limit := unlimited
	if m.Purchased != nil {
		limit = *m.Purchased
	}
	return slots.Pool{
		Store: m.Store, Prefix: storekey.QuotaSlotsPrefix(m.Period), Limit: limit,
		Key:    func(n int) string { return storekey.QuotaSlot(m.Period, n) },
		Number: storekey.QuotaSlotNumber,
	}
}

// pending marks a digest's unit while its claimer looks for a slot.
const pending = "pending "

// staleClaim is how long a pending claim may stand before it is taken to
// be a claimer that died between the two writes.
const staleClaim = time.Minute

// Admit counts one scan of digest at now.
//
// The digest's unit is claimed first (pending), so that a digest admitted
// twice at once is counted once; the claimer then takes a purchased slot
// and confirms the claim, or withdraws it when there is none, so a
// refused scan consumes nothing. A second admission of the digest waits
// for the claim to be decided: it is free only once a slot backs it.
func (m Meter) Admit(ctx context.Context, digest string, now time.Time) (Decision, error) {
	key := storekey.QuotaDigest(m.Period, m.Cycle, digest)
	for range 500 {
		first, err := m.Store.PutIfAbsent(ctx, key, []byte(pending+now.UTC().Format(time.RFC3339)))
		if err != nil {
			return 0, fmt.Errorf("quota: %w", err)
		}
		if first {
			return m.claim(ctx, key, digest)
		}
		b, err := m.Store.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue // withdrawn meanwhile: claim it again
		}
		if err != nil {
			return 0, fmt.Errorf("quota: %w", err)
		}
		at, undecided := strings.CutPrefix(string(b), pending)
		if !undecided {
			return AlreadyCounted, nil
		}
		if t, err := time.Parse(time.RFC3339, at); err != nil || now.Sub(t) > staleClaim {
			if err := m.Store.Delete(ctx, key); err != nil {
				return 0, fmt.Errorf("quota: %w", err)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("quota: the unit of %s stayed undecided", digest)
}

// claim backs a new claim with a purchased slot, or withdraws it.
func (m Meter) claim(ctx context.Context, key, digest string) (Decision, error) {
	n, ok, err := m.pool().Take(ctx, []byte(digest))
	if err != nil || !ok {
		if derr := m.Store.Delete(ctx, key); derr != nil && err == nil {
			err = derr
		}
		if err != nil {
			return 0, fmt.Errorf("quota: %w", err)
		}
		return Exhausted, nil
	}
	if err := m.Store.Put(ctx, key, []byte(fmt.Sprintf("unit %d", n))); err != nil {
		return 0, fmt.Errorf("quota: %w", err)
	}
	return Consumed, nil
}

// Seen reports whether digest was admitted in the cycle.
func (m Meter) Seen(ctx context.Context, digest string) (bool, error) {
	return m.Store.Exists(ctx, storekey.QuotaDigest(m.Period, m.Cycle, digest))
}

// Consumed counts the period's units.
func (m Meter) Consumed(ctx context.Context) (int, error) {
	return m.pool().Count(ctx)
}

// Renumber keeps the period's count exact under a purchased quota set
// where there was none, or lowered: units taken before are renumbered
// below it (slots.Pool.Compact), or the quota's random probes would not
// meet them and would admit its whole size again. above is how many
// units were consumed beyond the new quota.
func (m Meter) Renumber(ctx context.Context) (above int, err error) {
	if m.Purchased == nil {
		return 0, nil // unlimited: any number is below it
	}
	_, above, err = m.pool().Compact(ctx)
	if err != nil {
		return 0, fmt.Errorf("quota: %w", err)
	}
	return above, nil
}
