package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/store"
)

// Refused marks a request for a registry the service may not reach: HTTP
// answers it with 403 and the reason; nothing is fetched.
type Refused struct{ Err error }

func (r Refused) Error() string     { return r.Err.Error() }
func (r Refused) Unwrap() error     { return r.Err }
func (r Refused) ErrorType() string { return "Refused" }

// admit returns the connection of a registry host, or refuses it.
func (e *Env) admit(ctx context.Context, host string) (*registries.Connection, error) {
	set, err := e.Live.Set(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry connections: %w", err)
	}
	c, ok := set.ForHost(host)
	if !ok {
		return nil, Refused{fmt.Errorf("%s is not a configured registry: add a connection with POST /v1/registries", host)}
	}
	return c, nil
}

// maxConnectionBody bounds a connection document.
const maxConnectionBody = 64 << 10

func decodeConnection(w http.ResponseWriter, r *http.Request) (*registries.Connection, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxConnectionBody))
	dec.DisallowUnknownFields()
	var c registries.Connection
	if err := dec.Decode(&c); err != nil {
		return nil, BadEvent{fmt.Errorf("registry connection: %w", err)}
	}
	return &c, nil
}

// registryRoutes are the /v1/registries routes:
//
//	GET    /v1/registries        every connection, secrets masked
//	POST   /v1/registries        create one (201)
//	GET    /v1/registries/{id}   one
//	PUT    /v1/registries/{id}   replace one; a secret sent back masked is kept
//	DELETE /v1/registries/{id}   delete one (204); the default ACR connections stay (409)
func (e *Env) registryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/registries", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		cs, err := e.Registries.List(r.Context())
		if err != nil {
			httpError(w, err)
			return
		}
		out := make([]registries.Connection, 0, len(cs))
		for _, c := range cs {
			out = append(out, c.Masked())
		}
		writeJSON(w, http.StatusOK, map[string]any{"registries": out})
	}))
	mux.HandleFunc("POST /v1/registries", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		c, err := decodeConnection(w, r)
		if err == nil {
			err = e.Registries.Create(r.Context(), c)
		}
		if err != nil {
			httpError(w, err)
			return
		}
		e.Live.Invalidate()
		e.audited(r, "registry.create", c.ID)
		writeJSON(w, http.StatusCreated, c.Masked())
	}))
	// The repositories of a connection, for the console's scope picker:
	// listed as periodic scans list them (the kind's API, else the catalog).
	mux.HandleFunc("GET /v1/registries/{id}/repositories", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		set, err := e.Live.Set(r.Context())
		if err != nil {
			httpError(w, err)
			return
		}
		c, ok := set.ByID(r.PathValue("id"))
		if !ok {
			httpError(w, fmt.Errorf("registry connection %q: %w", r.PathValue("id"), store.ErrNotFound))
			return
		}
		images, err := e.listConnection(r.Context(), c, settings.Scan{}, settings.Connection{ID: c.ID, Hosts: c.Hosts})
		if err != nil {
			httpError(w, err)
			return
		}
		repos := []string{}
		for _, im := range images {
			if len(repos) == 0 || repos[len(repos)-1] != im.Repository {
				repos = append(repos, im.Repository)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"registry": c.ID, "repositories": repos})
	}))
	mux.HandleFunc("GET /v1/registries/{id}", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		c, err := e.Registries.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, c.Masked())
	}))
	mux.HandleFunc("PUT /v1/registries/{id}", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		c, err := decodeConnection(w, r)
		if err == nil {
			err = e.Registries.Update(r.Context(), r.PathValue("id"), c)
		}
		if err != nil {
			httpError(w, err)
			return
		}
		e.Live.Invalidate()
		e.audited(r, "registry.update", c.ID)
		writeJSON(w, http.StatusOK, c.Masked())
	}))
	mux.HandleFunc("DELETE /v1/registries/{id}", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		if err := e.Registries.Delete(r.Context(), r.PathValue("id")); err != nil {
			httpError(w, err)
			return
		}
		e.Live.Invalidate()
		e.audited(r, "registry.delete", r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	}))
}

// statusOf maps the registry errors to HTTP statuses.
func registryStatus(err error) (int, bool) {
	var refused Refused
	switch {
	case errors.As(err, &refused):
		return http.StatusForbidden, true
	case errors.Is(err, registries.ErrInvalid):
		return http.StatusBadRequest, true
	case errors.Is(err, registries.ErrNotFound):
		return http.StatusNotFound, true
	case errors.Is(err, registries.ErrExists), errors.Is(err, registries.ErrBuiltin):
		return http.StatusConflict, true
	}
	return 0, false
}
