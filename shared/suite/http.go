package suite

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/digest"
	"github.com/layerscan/layerscan/shared/event"
	"github.com/layerscan/layerscan/shared/netguard"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
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
	case errors.Is(err, apikeys.ErrNotFound):
		code = http.StatusNotFound
	case errors.As(err, &be), errors.Is(err, event.ErrBadEvent):
		code = http.StatusBadRequest
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
		ids, err := e.OnDemand(r.Context(), req)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, &Outcome{ScanIDs: ids})
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
		version := ""
		if db, err := advisory.Current(r.Context(), e.Store); err == nil {
			version = db.Manifest.Version
		}
		b, err := e.Store.Get(r.Context(), storekey.Report(d, version))
		if err == nil && callerKey(r.Context()) != nil && len(callerKey(r.Context()).Repositories) > 0 {
			var head struct {
				Image struct{ Ref string } `json:"image"`
			}
			json.Unmarshal(b, &head)
			err = covers(r.Context(), head.Image.Ref)
		}
		if err != nil {
			httpError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	return mux
}

// OnDemand plans a scan now (so that its ID can be answered) from an HTTP
// request. Only registry references are accepted: paths on the server are
// not the caller's to read.
func (e *Env) OnDemand(ctx context.Context, r *event.OnDemand) ([]string, error) {
	if strings.HasPrefix(r.Image, "/") || strings.HasPrefix(r.Image, ".") || !strings.Contains(r.Image, "/") {
		return nil, BadEvent{errors.New("image must be a registry reference (host/repository[:tag|@digest])")}
	}
	if err := covers(ctx, r.Image); err != nil {
		return nil, err
	}
	host, _, err := registry.Split(r.Image)
	if err != nil {
		return nil, BadEvent{err}
	}
	c, err := e.admit(ctx, host)
	if err != nil {
		return nil, err
	}
	src := source.Ref{Kind: source.KindRegistry, Location: r.Image, Insecure: c.Insecure}
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	return d.Plan(ctx, scanrecord.Request{Source: src, Platform: r.Platform, AllPlatforms: r.AllPlatforms, Dockerfile: r.Dockerfile, Trigger: "api"})
}
