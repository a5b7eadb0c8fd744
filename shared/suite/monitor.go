package suite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/changes"
	"github.com/layerscan/layerscan/shared/digest"
	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/format"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
)

// RematchBatch is how many images one build-report job re-reports: jobs
// per batch, not per image, so a fleet of thousands is tens of jobs.
const RematchBatch = 50

// StartRematch re-reports, from their stored facts, every image scanned
// within the retention period and in scope whose latest report is not
// against the current advisory DB and the current policy (whitelists,
// check selection, VEX): one task of type rematch per DB version and
// policy (created once, however often it is asked for), fanned out in
// batches through build-report. No layer is read. A new DB starts one;
// so does every change of the policy, since a report applies the policy
// when it is built.
func (e *Env) StartRematch(ctx context.Context) (*task.View, error) {
	db, err := advisory.Current(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	policy, err := d.Policy(ctx)
	if err != nil {
		return nil, err
	}
	version := db.Manifest.Version
	sum := sha256.Sum256([]byte(policy))
	id := "rematch-" + version + "-" + hex.EncodeToString(sum[:6])
	if t, err := task.Load(ctx, e.Store, id); err == nil {
		return task.Read(ctx, e.Store, t)
	}
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	items, err := e.rematchItems(ctx, s, version, policy)
	if err != nil {
		return nil, err
	}
	t := e.newTask(s, task.Rematch, "advisory DB "+version+", policy "+hex.EncodeToString(sum[:6]), "stored images", items)
	t.ID = id
	created, err := task.Create(ctx, e.Store, t)
	if err != nil {
		return nil, err
	}
	if created {
		// The steps' dispatcher: the store's queue in the cloud, the pool
		// under serve (e.dispatcher stays the queue there). The items are
		// planned by the task document itself (task.Item.Scan); a batch
		// lost before it is queued is failed by the task timeout.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(storedReaders) // a job object each: 200 for 10,000 images
		for start := 0; start < len(items); start += RematchBatch {
			batch := make([]pipeline.RematchItem, 0, RematchBatch)
			for i := start; i < min(start+RematchBatch, len(items)); i++ {
				batch = append(batch, pipeline.RematchItem{Item: i, ScanID: items[i].Scan})
			}
			g.Go(func() error {
				return dispatch.Enqueue(gctx, d.Dispatch, pipeline.ReportJob{Rematch: &pipeline.RematchBatch{Task: id, Items: batch}})
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		e.Log.Printf("rematch: task %s, %d image(s) against %s", id, len(items), version)
	}
	return task.Read(ctx, e.Store, t)
}

// rematchItems lists the images a re-match covers.
func (e *Env) rematchItems(ctx context.Context, s settings.Settings, version, policy string) ([]task.Item, error) {
	set, err := e.Live.Set(ctx)
	if err != nil {
		return nil, err
	}
	var cutoff time.Time
	if s.Scan.RetentionDays > 0 {
		cutoff = e.now().AddDate(0, 0, -s.Scan.RetentionDays)
	}
	items := []task.Item{}
	err = e.storedImages(ctx, func(d string, l pipeline.Latest) error {
		if l.DBVersion == version && l.Policy == policy {
			return nil // already against them
		}
		if created, err := time.Parse(time.RFC3339, l.Created); err == nil && !cutoff.IsZero() && created.Before(cutoff) {
			return nil
		}
		it := task.Item{Repository: l.Ref, Tag: l.Tag, Digest: d, Scan: l.ScanID}
		if ref, err := name.ParseReference(l.Ref); err == nil && strings.Contains(l.Ref, "/") {
			host, repo := ref.Context().RegistryStr(), ref.Context().RepositoryStr()
			if t, ok := ref.(name.Tag); ok && it.Tag == "" {
				it.Tag = t.TagStr()
			}
			if c, ok := set.ForHost(host); ok {
				if !s.Scan.InScope(settings.Connection{ID: c.ID, Hosts: c.Hosts}, repo, it.Tag) {
					return nil
				}
				it.Registry, it.Host, it.Repository = c.ID, host, repo
			}
		}
		items = append(items, it)
		return nil
	})
	return items, err
}

// storedImages calls fn with every stored image's digest and latest
// pointer; one removed since the listing is left out, and a store error
// is the caller's error.
//
// The pointers are read storedReaders at a time, since one at a time a
// fleet of 10,000 images on an object store is minutes of round trips;
// fn is then called in listing order, from one goroutine.
func (e *Env) storedImages(ctx context.Context, fn func(d string, l pipeline.Latest) error) error {
	keys, err := e.Store.List(ctx, storekey.ImagesPrefix)
	if err != nil {
		return err
	}
	var digests []string
	for _, k := range keys {
		d, ok := strings.CutSuffix(strings.TrimPrefix(k, storekey.ImagesPrefix), "/latest.json")
		if ok && digest.Valid(d) {
			digests = append(digests, d)
		}
	}
	// Read storedReaders at a time, then walked in order: 10,000 pointers
	// are a few MB.
	latest := make([]pipeline.Latest, len(digests))
	found := make([]bool, len(digests))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(storedReaders)
	for i, d := range digests {
		g.Go(func() (err error) {
			latest[i], found[i], err = pipeline.LoadLatest(gctx, e.Store, d)
			if err != nil {
				return fmt.Errorf("image %s: %w", d, err) // a store error is not "no image"
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, d := range digests {
		if !found[i] {
			continue // removed since the listing
		}
		if err := fn(d, latest[i]); err != nil {
			return err
		}
	}
	return nil
}

// storedReaders bounds the latest pointers storedImages reads at once.
const storedReaders = 32

// serveReport answers an image's report against the current DB, or,
// until that exists, its latest report marked stale.
func (e *Env) serveReport(w http.ResponseWriter, r *http.Request, d string) {
	f := format.FromAccept(r.Header.Get("Accept"))
	if q := r.URL.Query().Get("format"); q != "" {
		var err error
		if f, err = format.Parse(q); err != nil {
			httpError(w, BadEvent{err})
			return
		}
	}
	if f != "" && f != format.JSON {
		e.serveFormatted(w, r, d, f)
		return
	}
	key, stale, err := e.reportKey(r.Context(), d)
	if err != nil {
		httpError(w, err)
		return
	}
	if !stale {
		e.streamReport(w, r, key)
		return
	}
	var rep report.Report
	if err := store.GetJSON(r.Context(), e.Store, key, &rep); err != nil {
		httpError(w, err)
		return
	}
	if err := covers(r.Context(), rep.Image.Ref); err != nil {
		httpError(w, err)
		return
	}
	rep.Stale = true
	writeJSON(w, http.StatusOK, &rep)
}

// serveFormatted answers an image's report in a standard format (SARIF,
// CycloneDX, SPDX, the table), from the report the JSON route would serve.
func (e *Env) serveFormatted(w http.ResponseWriter, r *http.Request, d, f string) {
	rs, err := e.reportsOf(r.Context(), d)
	if err != nil {
		httpError(w, err)
		return
	}
	rep := rs[0]
	if err := covers(r.Context(), rep.Image.Ref); err != nil {
		httpError(w, err)
		return
	}
	var buf bytes.Buffer
	if err := format.Write(&buf, f, rep); err != nil {
		httpError(w, err)
		return
	}
	w.Header().Set("Content-Type", format.ContentType(f))
	w.Write(buf.Bytes())
}

// changeRoutes list what re-reports changed:
//
//	GET /v1/images/{digest}/changes   one image's changes, oldest first
//	GET /v1/changes?since=RFC3339&limit=N  every image's, oldest first; "more" when cut
//	POST /v1/rematch                  re-report stored images against the current DB now
func (e *Env) changeRoutes(mux *http.ServeMux) {
	visible := func(ctx context.Context, cs []*changes.Change) []*changes.Change {
		out := cs[:0]
		for _, c := range cs {
			if callerKey(ctx) == nil || len(callerKey(ctx).Repositories) == 0 || covers(ctx, c.Ref) == nil {
				out = append(out, c)
			}
		}
		return out
	}
	mux.HandleFunc("GET /v1/images/{digest}/changes", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		d := r.PathValue("digest")
		if !digest.Valid(d) {
			httpError(w, BadEvent{errors.New("digest must be sha256:<64 hex>")})
			return
		}
		cs, err := changes.Of(r.Context(), e.Store, d)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"changes": visible(r.Context(), cs)})
	}))
	mux.HandleFunc("GET /v1/changes", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 10000 {
			limit = 1000
		}
		cs, more, err := changes.Since(r.Context(), e.Store, r.URL.Query().Get("since"), limit)
		if pe := (*time.ParseError)(nil); errors.As(err, &pe) {
			err = BadEvent{err}
		}
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"changes": visible(r.Context(), cs), "more": more})
	}))
	mux.HandleFunc("POST /v1/rematch", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		v, err := e.StartRematch(r.Context())
		if err != nil {
			httpError(w, err)
			return
		}
		v.Log = nil
		e.audited(r, "rematch.start", v.ID)
		writeJSON(w, http.StatusAccepted, v)
	}))
}

// rereports wraps a route that may change the policy reports are built
// under (whitelists, VEX documents, the check selection in the settings):
// when it succeeds and the policy changed, the stored images are
// re-reported from their facts at once, and the re-match task is named in
// the Layerscan-Task header. A report applies the policy when it is built,
// so without this a change would show only in reports built later.
func (e *Env) rereports(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		before, err := e.Policy(r.Context())
		if err != nil {
			httpError(w, err)
			return
		}
		h(&policyWriter{ResponseWriter: w, e: e, r: r, before: before}, r)
	}
}

// policyWriter starts the re-match when its route answers a success.
type policyWriter struct {
	http.ResponseWriter
	e       *Env
	r       *http.Request
	before  string
	written bool
}

func (p *policyWriter) WriteHeader(code int) {
	if !p.written && code/100 == 2 {
		p.rematch()
	}
	p.written = true
	p.ResponseWriter.WriteHeader(code)
}

func (p *policyWriter) Write(b []byte) (int, error) {
	if !p.written {
		p.WriteHeader(http.StatusOK)
	}
	return p.ResponseWriter.Write(b)
}

func (p *policyWriter) rematch() {
	v, err := p.e.RereportIfChanged(p.r.Context(), p.before)
	if err != nil {
		p.e.Log.Printf("re-match after a policy change: %v", err)
	} else if v != nil {
		p.ResponseWriter.Header().Set("Layerscan-Task", v.ID)
	}
}

// Policy is the policy reports are built under now (whitelists, VEX
// documents, the check selection), as the report's scanner.policy says.
func (e *Env) Policy(ctx context.Context) (string, error) {
	d, err := e.Steps(ctx)
	if err != nil {
		return "", err
	}
	return d.Policy(ctx)
}

// RereportIfChanged starts the re-match of the stored images when the
// policy is no longer before; nil when it is, or when no advisory DB
// exists yet (nothing was matched).
func (e *Env) RereportIfChanged(ctx context.Context, before string) (*task.View, error) {
	after, err := e.Policy(ctx)
	if err != nil || after == before {
		return nil, err
	}
	v, err := e.StartRematch(ctx)
	if errors.Is(err, advisory.ErrNoDB) {
		return nil, nil
	}
	return v, err
}
