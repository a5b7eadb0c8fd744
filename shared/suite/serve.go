package suite

import (
	"context"

	"github.com/layerscan/layerscan/shared/console"
	"net/http"
	"time"
)

// Timers are the schedules of `layerscan serve`; zero disables one.
type Timers struct {
	Periodic, Sync, Janitor time.Duration
}

// LocalHandler is the whole suite behind one HTTP handler, for `layerscan
// serve`: the scan API under /v1/, registry notifications (every kind the
// registry-events function takes) at POST /v1/events, and GET /healthz.
func (e *Env) LocalHandler() http.Handler {
	mux := http.NewServeMux()
	api := e.APIHandler()
	mux.Handle("/v1/scans", api)
	mux.Handle("/v1/scans/", api)
	mux.Handle("/v1/images/", api)
	mux.Handle("/v1/registries", api)
	mux.Handle("/v1/registries/", api)
	mux.Handle("/v1/keys", api)
	mux.Handle("/v1/keys/", api)
	mux.Handle("/v1/audit", api)
	for _, p := range []string{"/v1/settings", "/v1/settings/", "/v1/quota", "/v1/whitelists", "/v1/whitelists/", "/v1/scan-now", "/v1/tasks", "/v1/tasks/", "/v1/repositories/", "/v1/findings", "/v1/changes", "/v1/rematch", "/v1/admission", "/v1/vex", "/v1/vex/", "/v1/fixes", "/v1/fixes/", "/v1/images", "/v1/risks", "/v1/risks/", "/v1/whoami", "/v1/checks", "/v1/clusters", "/v1/clusters/", "/api/v1/"} {
		mux.Handle(p, api)
	}
	mux.Handle(console.Prefix, console.Handler())
	mux.Handle("/v1/events", e.WebhookHandler())
	mux.Handle("/v1/events/", e.WebhookHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// RunTimers calls the timer functions on their schedules until ctx ends.
func (e *Env) RunTimers(ctx context.Context, t Timers) {
	run := func(every time.Duration, name string, f func(context.Context, []byte) ([]byte, error)) {
		if every <= 0 {
			return
		}
		go func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if out, err := f(ctx, nil); err != nil {
						e.Log.Printf("%s: %v", name, err)
					} else {
						e.Log.Printf("%s: %s", name, out)
					}
				}
			}
		}()
	}
	run(t.Periodic, "periodic-scan", e.PeriodicScan)
	run(t.Sync, "sync-advisories", e.SyncAdvisories)
	run(t.Janitor, "janitor", e.Janitor)
}
