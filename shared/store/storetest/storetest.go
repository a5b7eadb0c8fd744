// Package storetest holds the behaviour every Store backend must have, as
// a test any backend's tests can run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Contract checks what every Store backend must do; OSS and S3 reuse it.
func Contract(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "a/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get missing: %v, want store.ErrNotFound", err)
	}
	if ok, err := s.Exists(ctx, "a/missing"); ok || err != nil {
		t.Errorf("Exists missing: %v %v", ok, err)
	}
	if err := s.Put(ctx, "a/b/c.json", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/b/c.json", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Get(ctx, "a/b/c.json"); err != nil || string(b) != "2" {
		t.Errorf("Get after overwrite: %q %v", b, err)
	}
	if ok, err := s.Exists(ctx, "a/b/c.json"); !ok || err != nil {
		t.Errorf("Exists: %v %v", ok, err)
	}
	// Create-once under contention: exactly one winner, its content intact.
	var wg sync.WaitGroup
	wins := make(chan string, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if ok, err := s.PutIfAbsent(ctx, storekey.Claim("x"), []byte(fmt.Sprint(i))); err != nil {
				t.Error(err)
			} else if ok {
				wins <- fmt.Sprint(i)
			}
		}(i)
	}
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("PutIfAbsent winners %v, want exactly one", winners)
	}
	if b, _ := s.Get(ctx, storekey.Claim("x")); string(b) != winners[0] {
		t.Errorf("claim holds %q, winner wrote %q", b, winners[0])
	}
	s.Put(ctx, "a/bz", []byte("x"))
	keys, err := s.List(ctx, "a/b")
	if err != nil || fmt.Sprint(keys) != "[a/b/c.json a/bz]" {
		t.Errorf("List a/b: %v %v", keys, err)
	}
	if err := s.Delete(ctx, "a/b/c.json"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a/b/c.json"); err != nil {
		t.Errorf("Delete missing: %v", err)
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/"} {
		if err := s.Put(ctx, bad, nil); err == nil {
			t.Errorf("Put accepted key %q", bad)
		}
	}
	streams(t, s)
}

// streams: objects written by PutEncoded read back whole through Open;
// an encoder that fails writes nothing and keeps the previous object.
func streams(t *testing.T, s store.Store) {
	ctx := context.Background()
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB, more than one pipe write
	if err := store.PutEncoded(ctx, s, "st/big", func(w io.Writer) error {
		_, err := io.WriteString(w, big)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r, err := store.Open(ctx, s, "st/big")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != big {
		t.Errorf("streamed object: %d bytes back of %d", len(b), len(big))
	}
	err = store.PutEncoded(ctx, s, "st/big", func(w io.Writer) error {
		io.WriteString(w, "half")
		return errors.New("encoder failed")
	})
	if err == nil {
		t.Error("a failed encoder was not an error")
	}
	if b, _ := s.Get(ctx, "st/big"); string(b) != big {
		t.Errorf("a failed stream replaced the object (%d bytes)", len(b))
	}
	if _, err := store.Open(ctx, s, "st/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Open missing: %v", err)
	}
}
