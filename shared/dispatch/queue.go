package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/store"
)

// QueuePrefix is where job objects live: queue/<step>/<id>.json. The
// store's event notification (FC OSS trigger, S3 notification) on that
// prefix invokes the step's function.
const QueuePrefix = "queue/"

// Queue dispatches by writing job objects to the store.
type Queue struct {
	Store store.Store
	Now   func() time.Time
}

// Dispatch implements Dispatcher. Every call writes a new object (time plus
// random id): a re-drive of the same job must trigger a new invocation.
func (q *Queue) Dispatch(ctx context.Context, step string, job []byte) error {
	if step == "" || strings.ContainsAny(step, "/.") {
		return fmt.Errorf("dispatch: bad step name %q", step)
	}
	now := time.Now
	if q.Now != nil {
		now = q.Now
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	key := QueuePrefix + step + "/" + now().UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(r[:]) + ".json"
	created, err := q.Store.PutIfAbsent(ctx, key, job)
	if err != nil {
		return fmt.Errorf("dispatch %s: %w", step, err)
	}
	if !created {
		return fmt.Errorf("dispatch %s: job key %s already exists", step, key)
	}
	return nil
}

// StepOf returns the step a job object key belongs to.
func StepOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, QueuePrefix)
	if !ok {
		return "", false
	}
	step, file, ok := strings.Cut(rest, "/")
	if !ok || step == "" || !strings.HasSuffix(file, ".json") || strings.Contains(file, "/") {
		return "", false
	}
	return step, true
}
