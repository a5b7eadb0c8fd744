package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/console"
	"github.com/layerscan/layerscan/shared/digest"
	"github.com/layerscan/layerscan/shared/event"
	"github.com/layerscan/layerscan/shared/netguard"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/task"
	"github.com/layerscan/layerscan/shared/whitelist"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var be BadEvent
	var mbe *http.MaxBytesError
	rc, isRegistry := registryStatus(err)
	var forbidden Forbidden
	switch {
	case isRegistry:
		code = rc
	case errors.As(err, &forbidden):
		code = http.StatusForbidden
	case errors.As(err, new(Unauthenticated)):
		code = http.StatusUnauthorized
	case errors.Is(err, netguard.ErrRefused):
		code = http.StatusForbidden
	case registryAnswer(err) != 0:
		code = registryAnswer(err)
	case errors.Is(err, apikeys.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, settings.ErrConflict):
		code = http.StatusPreconditionFailed
	case errors.As(err, new(*settings.FieldError)), errors.Is(err, whitelist.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, apikeys.ErrNotFound), errors.Is(err, whitelist.ErrNotFound), errors.Is(err, task.ErrNotFound):
		code = http.StatusNotFound
	case errors.As(err, &be), errors.Is(err, event.ErrBadEvent):
		code = http.StatusBadRequest
	case errors.Is(err, ErrThrottled), errors.Is(err, ErrQuotaExhausted):
		code = http.StatusTooManyRequests
	case errors.As(err, &mbe):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, store.ErrNotFound), errors.Is(err, scanrecord.ErrScanGone):
		code = http.StatusNotFound
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// registryAnswer maps a registry's failure to what the caller is told:
// 404 for an image the registry does not have, 502 when the registry
// refused us or could not be reached, 504 when it did not answer in time.
func registryAnswer(err error) int {
	var re *registry.Error
	var ne net.Error
	switch {
	case errors.As(err, &re) && re.Status == http.StatusNotFound:
		return http.StatusNotFound
	case errors.As(err, &re):
		return http.StatusBadGateway
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	case errors.As(err, new(*net.OpError)), errors.As(err, new(*net.DNSError)):
		return http.StatusBadGateway
	}
	return 0
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, event.MaxBody))
}

// WebhookHandler receives registry webhooks (ACR classic, Harbor,
// Distribution) on any path: the body says which registry sent it.
func (e *Env) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST a registry notification"})
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			httpError(w, err)
			return
		}
		out, err := e.WebhookEvent(r, body)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, out)
	})
}

// APIHandler is the scan API:
//
//	POST /v1/scans                    {"image": "...", "platform": "...", "allPlatforms": false}
//	GET  /v1/scans/{id}               progress and per-layer status
//	GET  /v1/images/{digest}/report   the image's report against the current advisory DB
func (e *Env) APIHandler() http.Handler {
	mux := http.NewServeMux()
	e.registryRoutes(mux)
	e.keyRoutes(mux)
	e.controlRoutes(mux)
	e.changeRoutes(mux)
	e.verdictRoutes(mux)
	e.harborRoutes(mux)
	e.fixRoutes(mux)
	e.consoleRoutes(mux)
	e.clusterRoutes(mux)
	mux.Handle(console.Prefix, console.Handler())
	mux.HandleFunc("POST /v1/scans", e.allow(apikeys.Scan, func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r)
		if err != nil {
			httpError(w, err)
			return
		}
		req, err := event.ParseScanRequest(body)
		if err != nil {
			httpError(w, badEvent(err))
			return
		}
		out, err := e.OnDemand(r.Context(), req)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, out)
	}))
	mux.HandleFunc("GET /v1/scans/{id}", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		p, err := scanrecord.ReadProgress(r.Context(), e.Store, r.PathValue("id"))
		if err == nil {
			err = covers(r.Context(), p.Ref)
		}
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	}))
	mux.HandleFunc("GET /v1/images/{digest}/report", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		d := r.PathValue("digest")
		if !digest.Valid(d) {
			httpError(w, BadEvent{errors.New("digest must be sha256:<64 hex>")})
			return
		}
		e.serveReport(w, r, d)
	}))
	return mux
}

// streamReport answers a stored report, streamed from the store: a large
// report is never held whole. A key limited to repositories reads the
// report's image first.
func (e *Env) streamReport(w http.ResponseWriter, r *http.Request, key string) {
	if k := callerKey(r.Context()); k != nil && len(k.Repositories) > 0 {
		var head struct {
			Image struct{ Ref string } `json:"image"`
		}
		err := store.GetJSON(r.Context(), e.Store, key, &head)
		if err == nil {
			err = covers(r.Context(), head.Image.Ref)
		}
		if err != nil {
			httpError(w, err)
			return
		}
	}
	rc, err := store.Open(r.Context(), e.Store, key)
	if err != nil {
		httpError(w, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/json")
	io.Copy(w, rc)
}

// OnDemand plans a scan now (so that its ID can be answered) from an HTTP
// request, as a task of one image. Only registry references are accepted:
// paths on the server are not the caller's to read. An image outside the
// scan scope may be scanned by operators and admins, and is marked so.
func (e *Env) OnDemand(ctx context.Context, r *event.OnDemand) (*Outcome, error) {
	if strings.HasPrefix(r.Image, "/") || strings.HasPrefix(r.Image, ".") || !strings.Contains(r.Image, "/") {
		return nil, BadEvent{errors.New("image must be a registry reference (host/repository[:tag|@digest])")}
	}
	if err := covers(ctx, r.Image); err != nil {
		return nil, err
	}
	ref, err := name.ParseReference(r.Image)
	if err != nil {
		return nil, BadEvent{err}
	}
	host, repo := ref.Context().RegistryStr(), ref.Context().RepositoryStr()
	c, err := e.admit(ctx, host)
	if err != nil {
		return nil, err
	}
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	it := task.Item{Registry: c.ID, Host: host, Repository: repo}
	switch v := ref.(type) {
	case name.Tag:
		it.Tag = v.TagStr()
	case name.Digest:
		it.Digest = v.DigestStr()
	}
	trigger := "api"
	if k := callerKey(ctx); k != nil {
		trigger = "api key " + k.ID
		if !s.Scan.InScope(settings.Connection{ID: c.ID, Hosts: c.Hosts}, repo, it.Tag) {
			if k.Role != apikeys.Admin && k.Role != apikeys.Operator {
				return nil, Forbidden{fmt.Errorf("%s is outside the scan scope: only operators may scan it", r.Image)}
			}
			it.OutOfScope = true
		}
	}
	t := e.newTask(s, task.OnDemand, trigger, r.Image, []task.Item{it})
	if _, err := task.Create(ctx, e.Store, t); err != nil {
		return nil, err
	}
	out := &Outcome{Task: t.ID}
	a, err := e.admitItem(ctx, t, 0, s, map[string]bool{})
	switch {
	case err != nil:
		return nil, err
	case a.wait:
		task.Admit(ctx, e.Store, t.ID, 0, task.Admission{Outcome: task.Skipped, Reason: task.ReasonThrottled, At: e.now().Format(time.RFC3339)})
		err = ErrThrottled
	case a.outcome == task.QuotaExhausted:
		err = ErrQuotaExhausted
	case a.err != nil:
		err = a.err
	case a.outcome == task.ImageFailed:
		err = fmt.Errorf("%s: %s", r.Image, a.reason)
	}
	if err != nil {
		e.closeTask(ctx, t)
		return nil, err
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	src := source.Ref{Kind: source.KindRegistry, Location: r.Image, Insecure: c.Insecure}
	out.ScanIDs, err = d.Plan(ctx, scanrecord.Request{
		Source: src, Platform: r.Platform, AllPlatforms: r.AllPlatforms, Dockerfile: r.Dockerfile, Trigger: "api",
		Tag: it.Tag, Task: &scanrecord.TaskRef{ID: t.ID, Item: 0},
	})
	if err != nil {
		e.closeTask(ctx, t)
		return nil, err
	}
	return out, nil
}

// closeTask closes a task that has finished early (refused, failed).
func (e *Env) closeTask(ctx context.Context, t *task.Task) {
	v, err := task.Read(ctx, e.Store, t)
	if err == nil {
		err = task.Close(ctx, e.Store, v)
	}
	if err != nil {
		e.Log.Printf("task %s: %v", t.ID, err)
	}
}
