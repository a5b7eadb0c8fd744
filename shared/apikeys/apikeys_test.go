package apikeys

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/store"
)

func TestKeys(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{Store: st}
	if ok, _ := s.Configured(ctx); ok {
		t.Error("an empty store has keys")
	}
	k, plain, err := s.Create(ctx, CI, "pipeline", []string{"registry.example.com/team/*"}, "test")
	if err != nil || !strings.HasPrefix(plain, "lsk_"+k.ID+"_") {
		t.Fatalf("create: %+v %q %v", k, plain, err)
	}
	got, err := s.Authenticate(ctx, "Bearer "+plain)
	if err != nil || got.Role != CI || !got.Can(Scan) || got.Can(Manage) || got.Can(ReadSettings) {
		t.Errorf("authenticate: %+v %v", got, err)
	}
	if !got.Covers("registry.example.com/team/app") || got.Covers("registry.example.com/other/app") {
		t.Error("repository limits")
	}
	for _, bad := range []string{"", plain, "Bearer " + plain + "0", "Bearer lsk_" + k.ID + "_" + strings.Repeat("0", 64), "Basic " + plain} {
		if bad == plain {
			bad = "Token " + plain
		}
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%.30q: %v", bad, err)
		}
	}
	b, _ := st.Get(ctx, "config/keys/"+k.ID+".json")
	if strings.Contains(string(b), plain[len(plain)-64:]) {
		t.Error("the key is stored in the clear")
	}
	if err := s.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "Bearer "+plain); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a revoked key: %v", err)
	}
	if err := s.Revoke(ctx, "../x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke a path: %v", err)
	}
	if _, _, err := s.Create(ctx, "root", "", nil, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown role: %v", err)
	}
	boot := &Store{Store: st, Bootstrap: "bootstrap-secret"}
	if k, err := boot.Authenticate(ctx, "Bearer bootstrap-secret"); err != nil || k.Role != Admin {
		t.Errorf("bootstrap: %+v %v", k, err)
	}
	if ok, _ := boot.Configured(ctx); !ok {
		t.Error("a bootstrap key does not count as configured")
	}
}
