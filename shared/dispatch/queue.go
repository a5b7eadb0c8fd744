package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Queue dispatches by writing job objects to the store (storekey.Job); the
// store's event notification (FC OSS trigger, S3 notification) on
// queue/<step>/ invokes the step's function.
type Queue struct {
	Store store.Store
	Now   func() time.Time
}

// Dispatch implements Dispatcher. Every call writes a new object (time plus
// random id): a re-drive of the same job must trigger a new invocation.
func (q *Queue) Dispatch(ctx context.Context, e Envelope) error {
	if e.Step == "" || strings.ContainsAny(e.Step, "/.") {
		return fmt.Errorf("dispatch: bad step name %q", e.Step)
	}
	now := time.Now
	if q.Now != nil {
		now = q.Now
	}
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("dispatch %s: %w", e.Step, err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	key := storekey.Job(e.Step, now(), hex.EncodeToString(r[:]))
	created, err := q.Store.PutIfAbsent(ctx, key, body)
	if err != nil {
		return fmt.Errorf("dispatch %s: %w", e.Step, err)
	}
	if !created {
		return fmt.Errorf("dispatch %s: job key %s already exists", e.Step, key)
	}
	return nil
}
