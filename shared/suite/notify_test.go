package suite

import (
	"context"
	"io"
	"log"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/layerscan/layerscan/shared/notify"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// TestNotificationTargetsAreGuarded: a target at a metadata address is
// never dialled, even allowed private; a private address is refused unless
// the target allows it. Nothing leaves the machine: resolution is faked and
// every dial is counted.
func TestNotificationTargetsAreGuarded(t *testing.T) {
	fs, _ := store.NewFS(t.TempDir())
	e := NewEnv(Config{}, fs, nil, log.New(io.Discard, "", 0))
	var dials atomic.Int32
	e.Guard.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, io.EOF
	}
	ctx := context.Background()
	for _, tc := range []struct{ url, settings string }{
		{"http://169.254.169.254/latest/meta-data", `"allowPrivate":true`},
		{"http://100.100.100.200/x", `"allowPrivate":true`},
		{"http://10.1.2.3/hook", `"allowPrivate":false`},
	} {
		doc := `{"notifications":[{"id":"t","kind":"http","url":"` + tc.url + `",` + tc.settings + `}]}`
		if _, err := e.PutSettings(ctx, []byte(doc), -1, "test"); err != nil {
			t.Fatal(err)
		}
		ev := notify.Event{ID: "test/" + tc.url, Kind: notify.TaskFailed, Title: "x"}
		e.emit(ctx, ev)
		keys, _ := fs.List(ctx, storekey.Outbox)
		found := false
		for _, k := range keys {
			var d notify.Delivery
			store.GetJSON(ctx, fs, k, &d)
			if d.Event.ID == ev.ID {
				found = true
				if !strings.Contains(d.Error, "refused") {
					t.Errorf("%s: %q", tc.url, d.Error)
				}
			}
		}
		if !found {
			t.Errorf("%s: no delivery kept for retry", tc.url)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d dials to refused addresses", n)
	}
}
