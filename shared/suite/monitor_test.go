package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// failingGet fails the read of one key, as a store that times out does.
type failingGet struct {
	*store.FS
	key string
}

func (f failingGet) Get(ctx context.Context, k string) ([]byte, error) {
	if k == f.key {
		return nil, errors.New("connection reset")
	}
	return f.FS.Get(ctx, k)
}

// TestStoredImagesInOrder: the pointers are read concurrently, but fn sees
// them in listing order, once each; a store error is the caller's error
// (before fn sees any image), not a skipped image; fn's error stops the
// walk.
func TestStoredImagesInOrder(t *testing.T) {
	ctx := context.Background()
	fs, _ := store.NewFS(t.TempDir())
	var want []string
	for i := range 300 {
		d := fmt.Sprintf("sha256:%064x", i)
		want = append(want, d)
		store.PutJSON(ctx, fs, storekey.ImageLatest(d), pipeline.Latest{ScanID: fmt.Sprint("s", i)})
	}
	e := NewEnv(Config{}, fs, nil, log.New(io.Discard, "", 0))
	var got []string
	err := e.storedImages(ctx, func(d string, l pipeline.Latest) error {
		if l.ScanID != fmt.Sprint("s", len(got)) {
			return fmt.Errorf("%s has the pointer of %s", d, l.ScanID)
		}
		got = append(got, d)
		return nil
	})
	if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("walk: %v, %d of %d images", err, len(got), len(want))
	}

	e = NewEnv(Config{}, failingGet{fs, storekey.ImageLatest(want[150])}, nil, log.New(io.Discard, "", 0))
	n := 0
	err = e.storedImages(ctx, func(string, pipeline.Latest) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), want[150]) || n != 0 {
		t.Errorf("a store error: %v after %d images", err, n)
	}

	e = NewEnv(Config{}, fs, nil, log.New(io.Discard, "", 0))
	stop := errors.New("enough")
	n = 0
	err = e.storedImages(ctx, func(string, pipeline.Latest) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("fn's error: %v after %d images", err, n)
	}
}
