package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/store"
)

// prefixed is a local store seen as bucket "bkt" under prefix "layerscan/",
// the way an oss:// or s3:// store maps its notifications.
type prefixed struct{ *store.FS }

func (prefixed) StoreKey(bucket, objectKey string) (string, bool) {
	k, ok := strings.CutPrefix(objectKey, "layerscan/")
	return k, ok && bucket == "bkt"
}

func notification(bucket, key string) []byte {
	return []byte(fmt.Sprintf(`{"events":[{"eventName":"ObjectCreated:PutObject","oss":{"bucket":{"name":%q},"object":{"key":%q}}}]}`, bucket, key))
}

func TestStepWorkerMapsObjectKeysThroughTheStore(t *testing.T) {
	fs, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A job whose scan is gone: running it drops it, which is enough to see
	// that the key reached the step.
	job := "queue/build-report/20261122T000000.000Z-ab.json"
	fs.Put(ctx, job, []byte(`{"scanID":"gone"}`))
	e := NewEnv(Config{Store: "oss://bkt/layerscan"}, prefixed{fs}, nil, log.New(io.Discard, "", 0))
	w := e.StepWorker("build-report")
	out, err := w(ctx, notification("bkt", "layerscan/"+job))
	if err != nil || !strings.Contains(string(out), job) {
		t.Fatalf("%s %v", out, err)
	}
	if ok, _ := fs.Exists(ctx, job); ok {
		t.Error("the job object was not consumed")
	}
	for _, bad := range [][]byte{
		notification("other-bucket", "layerscan/"+job),
		notification("bkt", "elsewhere/"+job),
		notification("bkt", "layerscan/queue/scan-image/x.json"),
	} {
		var be BadEvent
		if _, err := w(ctx, bad); !errors.As(err, &be) {
			t.Errorf("%s: %v, want BadEvent", bad, err)
		}
	}
}
