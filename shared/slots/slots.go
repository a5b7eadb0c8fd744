// Package slots is a counting semaphore over an object store that several
// function instances share without a read-modify-write: each unit is a
// create-once object (slot n of limit), and whoever creates it holds it.
//
// A pool of up to a thousand slots (a throttle's hour) is listed first,
// one page on OSS and S3, and the first free slot taken: slots taken
// under a higher limit still count when the limit is lowered. A larger
// pool (a billing period's quota) is first probed at random, so that
// taking a slot costs a write or two while it is not nearly full, and no
// listing of thousands of keys; only when random probes keep colliding is
// it listed, to find a free slot or to know it is exhausted. Counting is
// exact while every slot is numbered below the limit: no two callers hold
// the same slot, and there are only limit numbers. A limit lowered (or
// set where there was none) leaves slots numbered above it, which random
// probes never meet; Compact renumbers them.
package slots

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/layerscan/layerscan/shared/store"
)

// Pool is one pool of slots.
type Pool struct {
	Store store.Store
	// Prefix lists every slot of the pool; Key names slot n (under Prefix)
	// and Number reads n back from a key (Compact needs it).
	Prefix string
	Key    func(n int) string
	Number func(key string) (n int, ok bool)
	Limit  int
}

// probes is how many random slots are tried before listing: with the pool
// 80% full, eight probes all collide one time in six.
const probes = 8

// listed is the largest pool listed before probing.
const listed = 1000

func probesFor(limit int) int {
	if limit <= listed {
		return 0
	}
	return probes
}

// Take creates one free slot holding value; ok is false when every slot is
// taken.
func (p Pool) Take(ctx context.Context, value []byte) (n int, ok bool, err error) {
	if p.Limit <= 0 {
		return 0, false, nil
	}
	for range probesFor(p.Limit) {
		n := rand.IntN(p.Limit)
		if ok, err := p.Store.PutIfAbsent(ctx, p.Key(n), value); err != nil || ok {
			return n, ok, err
		}
	}
	taken, err := p.Store.List(ctx, p.Prefix)
	if err != nil {
		return 0, false, fmt.Errorf("slots %s: %w", p.Prefix, err)
	}
	if len(taken) >= p.Limit {
		return 0, false, nil
	}
	held := make(map[string]bool, len(taken))
	for _, k := range taken {
		held[k] = true
	}
	for n := range p.Limit {
		if held[p.Key(n)] {
			continue
		}
		ok, err := p.Store.PutIfAbsent(ctx, p.Key(n), value)
		if err != nil || ok {
			return n, ok, err
		}
	}
	return 0, false, nil
}

// Release frees slot n (a unit taken for work that then did not happen).
func (p Pool) Release(ctx context.Context, n int) error {
	return p.Store.Delete(ctx, p.Key(n))
}

// Count is how many slots are taken.
func (p Pool) Count(ctx context.Context) (int, error) {
	taken, err := p.Store.List(ctx, p.Prefix)
	return len(taken), err
}

// Compact renumbers the slots numbered at or above the limit into free
// numbers below it, so that probing is exact again after the limit was
// lowered or set. A pool holding more slots than its limit keeps the rest
// where they are, and every number below the limit is then taken, so no
// caller gets another. It returns how many slots were moved and how many
// remain above the limit.
//
// A caller taking slots meanwhile is never given a number that Compact
// fills (each move is create-once), but until Compact returns, the slots
// not yet moved are not met by probes: admissions during the compaction
// may exceed a lowered limit by as many as they are.
func (p Pool) Compact(ctx context.Context) (moved, above int, err error) {
	taken, err := p.Store.List(ctx, p.Prefix)
	if err != nil {
		return 0, 0, fmt.Errorf("slots %s: %w", p.Prefix, err)
	}
	if p.Number == nil {
		return 0, 0, fmt.Errorf("slots %s: the pool cannot read its slots' numbers", p.Prefix)
	}
	held := make(map[string]bool, len(taken))
	for _, k := range taken {
		held[k] = true
	}
	next := 0 // the lowest number that may be free
	for _, k := range taken {
		if n, ok := p.Number(k); ok && n < p.Limit {
			continue
		}
		value, err := p.Store.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return moved, 0, fmt.Errorf("slots %s: %w", p.Prefix, err)
		}
		placed := false
		for ; next < p.Limit && !placed; next++ {
			if held[p.Key(next)] {
				continue
			}
			ok, err := p.Store.PutIfAbsent(ctx, p.Key(next), value)
			if err != nil {
				return moved, 0, fmt.Errorf("slots %s: %w", p.Prefix, err)
			}
			placed = ok // else a caller took it meanwhile: try the next
		}
		if !placed {
			above++
			continue
		}
		if err := p.Store.Delete(ctx, k); err != nil {
			return moved, 0, fmt.Errorf("slots %s: %w", p.Prefix, err)
		}
		moved++
	}
	return moved, above, nil
}
