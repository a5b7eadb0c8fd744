package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/layerscan/layerscan/shared/store"
)

// TestEmitted: an event counts as emitted once it is queued for every
// target that wants it; a target that does not want it is not waited for.
func TestEmitted(t *testing.T) {
	ctx := context.Background()
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s := &Sender{Store: st, Client: srv.Client()}
	quotaOnly := Target{ID: "q", Kind: "http", URL: srv.URL + "/q", Events: []string{QuotaNearlyUsed}}
	tasksOnly := Target{ID: "t", Kind: "http", URL: srv.URL + "/t", Events: []string{TaskFailed}}
	ev := Event{ID: QuotaNearlyUsed + "/2026-12", Kind: QuotaNearlyUsed, Title: "x"}
	if done, err := s.Emitted(ctx, ev, []Target{quotaOnly, tasksOnly}); err != nil || done {
		t.Fatalf("before Emit: %v %v", done, err)
	}
	if err := s.Emit(ctx, ev, []Target{quotaOnly}); err != nil {
		t.Fatal(err)
	}
	if done, err := s.Emitted(ctx, ev, []Target{quotaOnly, tasksOnly}); err != nil || !done {
		t.Errorf("after Emit: %v %v", done, err)
	}
	other := Target{ID: "o", Kind: "http", URL: srv.URL + "/o"}
	if done, _ := s.Emitted(ctx, ev, []Target{quotaOnly, other}); done {
		t.Error("a target added since is still owed the event")
	}
}
