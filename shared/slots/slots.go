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
// exact: no two callers hold the same slot, and no more than limit slots
// exist.
package slots

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/layerscan/layerscan/shared/store"
)

// Pool is one pool of slots.
type Pool struct {
	Store store.Store
	// Prefix lists every slot of the pool; Key names slot n (under Prefix).
	Prefix string
	Key    func(n int) string
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
