package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/audit"
	"github.com/layerscan/layerscan/shared/registry"
)

type keyCtx struct{}

// callerKey is the API key a request authenticated with.
func callerKey(ctx context.Context) *apikeys.Key {
	k, _ := ctx.Value(keyCtx{}).(*apikeys.Key)
	return k
}

// Forbidden marks a request the caller's key may not make (403).
type Forbidden struct{ Err error }

func (f Forbidden) Error() string { return f.Err.Error() }
func (f Forbidden) Unwrap() error { return f.Err }

// allow wraps a route: the caller must present an API key whose role
// grants perm. Without one the answer is 401, with the wrong role 403;
// FC's and Lambda's own HTTP auth may sit in front, but nothing relies on
// it.
func (e *Env) allow(perm apikeys.Permission, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, err := e.Keys.Authenticate(r.Context(), bearer(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="layerscan"`)
			code := http.StatusUnauthorized
			if !errors.Is(err, apikeys.ErrUnauthorized) {
				code = http.StatusInternalServerError
			}
			writeJSON(w, code, map[string]string{"error": "an API key is required: Authorization: Bearer <key> (layerscan keys create)"})
			return
		}
		if !k.Can(perm) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("the %s role may not %s", k.Role, perm)})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), keyCtx{}, k)))
	}
}

// bearer is the request's API key as a Bearer credential: Harbor's scanner
// registration sends Basic auth, whose password is then the key.
func bearer(r *http.Request) string {
	if _, pass, ok := r.BasicAuth(); ok {
		return "Bearer " + pass
	}
	return r.Header.Get("Authorization")
}

// covers refuses an image reference outside the caller key's repositories.
func covers(ctx context.Context, ref string) error {
	k := callerKey(ctx)
	if k == nil {
		return nil // not over HTTP: events and timers
	}
	host, repo, err := registry.Split(ref)
	if err != nil {
		return BadEvent{err}
	}
	if !k.Covers(host + "/" + repo) {
		return Forbidden{fmt.Errorf("this API key is limited to %v", k.Repositories)}
	}
	return nil
}

// audited records a change made over the API.
func (e *Env) audited(r *http.Request, action, target string) {
	entry := audit.Entry{Action: action, Target: target, From: r.RemoteAddr}
	if k := callerKey(r.Context()); k != nil {
		entry.Who, entry.Role = k.ID+" "+k.Name, string(k.Role)
	}
	if err := audit.Record(r.Context(), e.Store, entry); err != nil {
		e.Log.Printf("audit %s %s: %v", action, target, err)
	}
}

// keyRoutes manage API keys (admin):
//
//	GET    /v1/keys        every key, without hashes
//	POST   /v1/keys        {"role": …, "name": …, "repositories": […]}: 201 with the key, shown once
//	DELETE /v1/keys/{id}   revoke: 204
//	GET    /v1/audit       the audit log (?since=RFC 3339)
func (e *Env) keyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/keys", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		ks, err := e.Keys.List(r.Context())
		if err != nil {
			httpError(w, err)
			return
		}
		out := []apikeys.Key{}
		for _, k := range ks {
			out = append(out, k.Public())
		}
		writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	}))
	mux.HandleFunc("POST /v1/keys", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Role         apikeys.Role `json:"role"`
			Name         string       `json:"name"`
			Repositories []string     `json:"repositories"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			httpError(w, BadEvent{fmt.Errorf("key request: %w", err)})
			return
		}
		caller := callerKey(r.Context())
		k, plain, err := e.Keys.Create(r.Context(), req.Role, req.Name, req.Repositories, caller.ID)
		if err != nil {
			httpError(w, err)
			return
		}
		e.audited(r, "key.create", k.ID+" "+string(k.Role))
		writeJSON(w, http.StatusCreated, map[string]any{"key": plain, "id": k.ID, "role": k.Role, "note": "shown once: store it now"})
	}))
	mux.HandleFunc("DELETE /v1/keys/{id}", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		if err := e.Keys.Revoke(r.Context(), r.PathValue("id")); err != nil {
			httpError(w, err)
			return
		}
		e.audited(r, "key.revoke", r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /v1/audit", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		entries, err := audit.List(r.Context(), e.Store, r.URL.Query().Get("since"))
		if err != nil {
			httpError(w, BadEvent{err})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	}))
}
