package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/notify"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/quota"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
	"github.com/layerscan/layerscan/shared/vex"
	"github.com/layerscan/layerscan/shared/whitelist"
)

// maxSettingsBody bounds a settings document (a thousand scope rules).
const maxSettingsBody = 1 << 20

// PutSettings validates and stores a settings document based on version
// base (-1: whatever is current). Switching auto-add off lists the scope
// first, so the repositories in it now stay in it.
func (e *Env) PutSettings(ctx context.Context, body []byte, base int, who string) (settings.Settings, error) {
	s, err := settings.Parse(body)
	if err != nil {
		return s, err
	}
	prev, err := settings.Load(ctx, e.Store)
	if err != nil {
		return s, err
	}
	if !s.Scan.AutoAddRepositories && prev.Scan.AutoAddRepositories {
		if err := e.recordScope(ctx, s); err != nil {
			return s, err
		}
	}
	saved, err := settings.SaveWith(ctx, e.Store, s, base, who, e.now(), e.Registries.Secrets)
	if err != nil {
		return saved, err
	}
	if q := saved.Quota.Purchased; q != nil {
		// A quota set or lowered needs the period's units renumbered under
		// it; every save of a limited quota does it (a no-op after the
		// first), so that a failed renumbering is mended by saving again.
		period, _ := settings.Period(e.now())
		above, err := quota.Meter{Store: e.Store, Period: period, Purchased: q}.Renumber(ctx)
		if err != nil {
			return saved, fmt.Errorf("settings saved; renumbering the quota's units: %w", err)
		}
		if above > 0 {
			e.Log.Printf("quota: %d unit(s) of period %s were consumed beyond the new quota of %d", above, period, *q)
		}
	}
	return saved, nil
}

// controlRoutes are the Scan Settings and Task Management routes:
//
//	GET  /v1/settings                 the settings, with an ETag
//	PUT  /v1/settings                 replace them (If-Match: a stale ETag is 412)
//	GET  /v1/quota                    consumed / purchased in the billing period
//	GET|POST /v1/whitelists, GET|PUT|DELETE /v1/whitelists/{id}
//	POST /v1/scan-now                 {"registryTypes": [...]}: a task over the scope
//	GET  /v1/tasks?type=&status=      tasks, newest first
//	GET  /v1/tasks/{id}               one task with its execution log
//	GET  /v1/repositories/{namespace}/{repository}/tags/{tag}/scan-status
//	GET  /v1/findings?category=&severity=&repository=
//
// docs/api.md documents each.
func (e *Env) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/settings", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		s, err := settings.Load(r.Context(), e.Store)
		if err != nil {
			httpError(w, err)
			return
		}
		w.Header().Set("ETag", settings.ETag(s.Version))
		writeJSON(w, http.StatusOK, s.Masked())
	}))
	mux.HandleFunc("PUT /v1/settings", e.allow(apikeys.Manage, e.rereports(func(w http.ResponseWriter, r *http.Request) {
		base, err := settings.ParseETag(r.Header.Get("If-Match"))
		if err != nil {
			httpError(w, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSettingsBody))
		if err != nil {
			httpError(w, err)
			return
		}
		s, err := e.PutSettings(r.Context(), body, base, whoCalls(r.Context()))
		if err != nil {
			httpError(w, err)
			return
		}
		e.audited(r, "settings.update", fmt.Sprintf("version %d", s.Version))
		w.Header().Set("ETag", settings.ETag(s.Version))
		writeJSON(w, http.StatusOK, s.Masked())
	})))
	mux.HandleFunc("GET /v1/quota", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		q, err := e.Quota(r.Context())
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, q)
	}))
	e.whitelistRoutes(mux)
	e.vexRoutes(mux)
	mux.HandleFunc("POST /v1/settings/notifications/{id}/test", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		s, err := settings.Load(r.Context(), e.Store)
		if err != nil {
			httpError(w, err)
			return
		}
		i := slices.IndexFunc(s.Notifications, func(t notify.Target) bool { return t.ID == r.PathValue("id") })
		if i < 0 {
			httpError(w, fmt.Errorf("notification target %q: %w", r.PathValue("id"), store.ErrNotFound))
			return
		}
		e.audited(r, "notification.test", s.Notifications[i].ID)
		if err := e.sender(s).Test(r.Context(), s.Notifications[i]); err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"sent": true, "target": s.Notifications[i].ID})
	}))
	mux.HandleFunc("POST /v1/scan-now", e.allow(apikeys.Scan, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			RegistryTypes []string `json:"registryTypes"`
		}
		if err := decodeStrict(w, r, &req, true); err != nil {
			httpError(w, err)
			return
		}
		for i, k := range req.RegistryTypes {
			if !validRegistryType(k) {
				httpError(w, BadEvent{fmt.Errorf("registryTypes[%d]: %q is not a registry type (acr, harbor, quay, gitlab, ecr, generic)", i, k)})
				return
			}
		}
		if k := callerKey(r.Context()); k != nil && (len(k.Repositories) > 0 || k.Role == apikeys.CI) {
			httpError(w, Forbidden{errors.New("scan-now scans the whole scope: an operator's or admin's key, not limited to repositories, may")})
			return
		}
		v, err := e.ScanNow(r.Context(), req.RegistryTypes, "api key "+callerKey(r.Context()).ID)
		if err != nil {
			httpError(w, err)
			return
		}
		v.Log = nil
		writeJSON(w, http.StatusAccepted, v)
	}))
	mux.HandleFunc("GET /v1/tasks", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		if limit <= 0 || limit > 1000 {
			limit = 100
		}
		vs, err := e.finals.List(r.Context(), e.Store, q.Get("type"), q.Get("status"), limit)
		if err == nil {
			vs, err = e.visibleTasks(r.Context(), vs)
		}
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"tasks": vs})
	}))
	mux.HandleFunc("GET /v1/tasks/{id}", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		v, err := e.TaskView(r.Context(), r.PathValue("id"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}))
	mux.HandleFunc("GET /v1/repositories/{namespace}/{repository}/tags/{tag}/scan-status", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		st, err := e.TagStatus(r.Context(), r.URL.Query().Get("registry"), r.PathValue("namespace")+"/"+r.PathValue("repository"), r.PathValue("tag"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}))
	mux.HandleFunc("GET /v1/findings", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := FindingFilter{Category: scan.Category(q.Get("category")), Repository: q.Get("repository")}
		if v := q.Get("severity"); v != "" {
			sev, err := scan.ParseSeverity(v)
			if err != nil {
				httpError(w, BadEvent{err})
				return
			}
			f.Severity = sev
		}
		if f.Category != "" && !slices.Contains(scan.Categories, f.Category) {
			httpError(w, BadEvent{fmt.Errorf("category %q is not one of %v", f.Category, scan.Categories)})
			return
		}
		f.Limit, _ = strconv.Atoi(q.Get("limit"))
		out, err := e.Findings(r.Context(), f)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}))
}

// decodeStrict decodes a small JSON body, refusing unknown fields; an
// empty body is the zero value when empty is allowed.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any, empty bool) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
	if err != nil {
		return err
	}
	if empty && strings.TrimSpace(string(b)) == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadEvent{fmt.Errorf("request body: %w", err)}
	}
	return nil
}

// decodeBounded decodes a body that carries more than is read (a Pod
// has many fields the webhook ignores), bounded like every body.
func decodeBounded(w http.ResponseWriter, r *http.Request, v any) error {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 3<<20)).Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return BadEvent{fmt.Errorf("request body: %w", err)}
	}
	return nil
}

// whoCalls names the caller's key for records.
func whoCalls(ctx context.Context) string {
	if k := callerKey(ctx); k != nil {
		return strings.TrimSpace(k.ID + " " + k.Name)
	}
	return "cli"
}

// QuotaView is what GET /v1/quota answers.
type QuotaView struct {
	// Purchased is null when the quota is unlimited.
	Purchased   *int   `json:"purchased"`
	Consumed    int    `json:"consumed"`
	Period      string `json:"period"`
	PeriodStart string `json:"periodStart"`
	Cycle       string `json:"cycle"`
	CycleStart  string `json:"cycleStart"`
	Exhausted   bool   `json:"exhausted"`
}

// Quota is the billing period's consumption.
func (e *Env) Quota(ctx context.Context) (*QuotaView, error) {
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	now := e.now()
	period, pstart := settings.Period(now)
	cycle, cstart, _ := s.Scan.CycleAt(now)
	n, err := quota.Meter{Store: e.Store, Period: period}.Consumed(ctx)
	if err != nil {
		return nil, err
	}
	q := &QuotaView{Purchased: s.Quota.Purchased, Consumed: n, Period: period, PeriodStart: pstart.Format(time.RFC3339), Cycle: cycle, CycleStart: cstart.Format(time.RFC3339)}
	q.Exhausted = q.Purchased != nil && n >= *q.Purchased
	return q, nil
}

// TaskView reads one task with its log.
func (e *Env) TaskView(ctx context.Context, id string) (*task.View, error) {
	t, err := task.Load(ctx, e.Store, id)
	if err != nil {
		return nil, err
	}
	v, err := e.finals.Read(ctx, e.Store, t)
	if err != nil || !limitedKey(ctx) {
		return v, err
	}
	// A key limited to repositories sees the entries of its images only,
	// and no task that has none.
	log := v.Log[:0]
	for _, en := range v.Log {
		if covers(ctx, en.Image) == nil {
			log = append(log, en)
		}
	}
	if len(log) == 0 && len(v.Log) > 0 {
		return nil, fmt.Errorf("task %s: %w", id, task.ErrNotFound)
	}
	v.Log = log
	return v, nil
}

func limitedKey(ctx context.Context) bool {
	k := callerKey(ctx)
	return k != nil && len(k.Repositories) > 0
}

// visibleTasks keeps, for a key limited to repositories, the tasks that
// cover one of its images (their documents are read for that).
func (e *Env) visibleTasks(ctx context.Context, vs []*task.View) ([]*task.View, error) {
	if !limitedKey(ctx) {
		return vs, nil
	}
	out := []*task.View{}
	for _, v := range vs {
		t, err := task.Load(ctx, e.Store, v.ID)
		if errors.Is(err, task.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(t.Items, func(it task.Item) bool { return covers(ctx, it.Ref()) == nil }) {
			out = append(out, v)
		}
	}
	return out, nil
}

// TagStatus is the GetRepoTagScanStatus analogue.
type TagStatus struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest,omitempty"`
	// Status is not-scanned, scanning, complete or failed.
	Status string   `json:"status"`
	Time   string   `json:"time,omitempty"`
	Scans  []string `json:"scans,omitempty"`
	Report string   `json:"report,omitempty"`
}

// TagStatus reads the latest scan of a tag; registry is a connection ID or
// host, or empty for the first connection that has scanned it.
func (e *Env) TagStatus(ctx context.Context, reg, repo, tag string) (*TagStatus, error) {
	set, err := e.Live.Set(ctx)
	if err != nil {
		return nil, err
	}
	var hosts []string
	var refused error
	for _, c := range set.All() {
		if reg != "" && c.ID != reg && !slices.Contains(c.Hosts, reg) {
			continue
		}
		for _, h := range c.Hosts {
			if err := covers(ctx, h+"/"+repo); err != nil {
				refused = err
				continue
			}
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 && refused != nil {
		return nil, refused
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("registry %q: %w", reg, store.ErrNotFound)
	}
	out := &TagStatus{Registry: hosts[0], Repository: repo, Tag: tag, Status: "not-scanned"}
	var ts pipeline.TagScan
	for _, h := range hosts {
		err := store.GetJSON(ctx, e.Store, storekey.TagScan(h, repo, tag), &ts)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out.Registry = h
		break
	}
	if len(ts.ScanIDs) == 0 {
		return out, nil
	}
	out.Digest, out.Time, out.Scans, out.Status = ts.Digest, ts.Planned, ts.ScanIDs, "complete"
	for _, id := range ts.ScanIDs {
		p, err := scanrecord.ReadProgress(ctx, e.Store, id)
		if err != nil {
			return nil, err
		}
		switch p.Status {
		case "done", "incomplete":
			if p.Status == "incomplete" && out.Status != "scanning" {
				out.Status = "failed"
			}
			if out.Report == "" {
				out.Report = "/v1/images/" + p.Digest + "/report"
			}
			if p.Finished > out.Time {
				out.Time = p.Finished
			}
		case "running":
			out.Status = "scanning"
		default:
			if out.Status != "scanning" {
				out.Status = "failed"
			}
		}
	}
	return out, nil
}

// FindingFilter selects findings across images.
type FindingFilter struct {
	Category   scan.Category
	Severity   scan.Severity
	Repository string
	Limit      int
}

// ImageFinding is one finding of one image.
type ImageFinding struct {
	Image  string `json:"image"`
	Digest string `json:"digest"`
	scan.Finding
}

// Findings lists the findings of every image's current report that pass
// the filter (whitelisted ones excluded), highest severity first.
func (e *Env) Findings(ctx context.Context, f FindingFilter) (map[string]any, error) {
	if f.Limit <= 0 || f.Limit > 10000 {
		f.Limit = 1000
	}
	// Only the first Limit are kept: the list is cut back whenever it
	// doubles, so a fleet's findings never sit in memory at once.
	byRank := func(a, b ImageFinding) int {
		if a.Severity.Rank() != b.Severity.Rank() {
			return b.Severity.Rank() - a.Severity.Rank()
		}
		return strings.Compare(a.Image+a.ID, b.Image+b.ID)
	}
	keep := func(out []ImageFinding) []ImageFinding {
		slices.SortStableFunc(out, byRank)
		return out[:min(len(out), f.Limit)]
	}
	out := []ImageFinding{}
	total := 0
	// Every image's latest shared report (the current one, or, while a
	// re-match runs, the last one), as the console's lists read them.
	err := e.latestReports(ctx, func(r *riskReport, _ pipeline.Latest) {
		repo := whitelist.Repository(r.Image.Ref)
		if f.Repository != "" && repo != f.Repository && !strings.HasSuffix(repo, "/"+f.Repository) {
			return
		}
		for _, fd := range r.Findings {
			if fd.Whitelisted || f.Category != "" && fd.Category != f.Category || f.Severity != "" && fd.Severity != f.Severity {
				continue
			}
			total++
			out = append(out, ImageFinding{Image: r.Image.Ref, Digest: r.Image.Digest, Finding: fd})
		}
		if len(out) >= 2*f.Limit {
			out = keep(out)
		}
	})
	if err != nil {
		return nil, err
	}
	out = keep(out)
	return map[string]any{"total": total, "findings": out}, nil
}

// whitelistRoutes are CRUD over the whitelist rules (admin writes).
func (e *Env) whitelistRoutes(mux *http.ServeMux) {
	entries := func() *whitelist.Entries { return &whitelist.Entries{Store: e.Store, Now: e.now} }
	decode := func(w http.ResponseWriter, r *http.Request) (whitelist.Entry, error) {
		var en whitelist.Entry
		err := decodeStrict(w, r, &en, false)
		return en, err
	}
	mux.HandleFunc("GET /v1/whitelists", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		l, err := entries().List(r.Context())
		if err != nil {
			httpError(w, err)
			return
		}
		if typ := r.URL.Query().Get("type"); typ != "" {
			l = slices.DeleteFunc(l, func(en whitelist.Entry) bool { return en.Type != typ })
		}
		writeJSON(w, http.StatusOK, map[string]any{"rules": l})
	}))
	mux.HandleFunc("POST /v1/whitelists", e.allow(apikeys.Manage, e.rereports(func(w http.ResponseWriter, r *http.Request) {
		en, err := decode(w, r)
		if err == nil {
			en, err = entries().Create(r.Context(), en, whoCalls(r.Context()))
		}
		if err != nil {
			httpError(w, err)
			return
		}
		e.audited(r, "whitelist.create", en.ID)
		writeJSON(w, http.StatusCreated, en)
	})))
	mux.HandleFunc("GET /v1/whitelists/{id}", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		en, err := entries().Get(r.Context(), r.PathValue("id"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, en)
	}))
	mux.HandleFunc("PUT /v1/whitelists/{id}", e.allow(apikeys.Manage, e.rereports(func(w http.ResponseWriter, r *http.Request) {
		en, err := decode(w, r)
		if err == nil {
			en, err = entries().Update(r.Context(), r.PathValue("id"), en)
		}
		if err != nil {
			httpError(w, err)
			return
		}
		e.audited(r, "whitelist.update", en.ID)
		writeJSON(w, http.StatusOK, en)
	})))
	mux.HandleFunc("DELETE /v1/whitelists/{id}", e.allow(apikeys.Manage, e.rereports(func(w http.ResponseWriter, r *http.Request) {
		if err := entries().Delete(r.Context(), r.PathValue("id")); err != nil {
			httpError(w, err)
			return
		}
		e.audited(r, "whitelist.delete", r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})))
}

// maxVEXBody bounds a VEX document.
const maxVEXBody = 8 << 20

// vexRoutes manage the VEX documents applied to every report (admin
// writes), beside the whitelists:
//
//	GET    /v1/vex          the documents, with their statements
//	POST   /v1/vex?name=    an OpenVEX or CycloneDX VEX document: 201 with its id
//	DELETE /v1/vex/{id}     204
func (e *Env) vexRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/vex", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		keys, err := e.Store.List(r.Context(), storekey.VEXDocumentsPrefix)
		if err != nil {
			httpError(w, err)
			return
		}
		docs := []vex.Document{}
		for _, k := range keys {
			var d vex.Document
			if store.GetJSON(r.Context(), e.Store, k, &d) == nil {
				docs = append(docs, d)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"documents": docs})
	}))
	mux.HandleFunc("POST /v1/vex", e.allow(apikeys.Manage, e.rereports(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxVEXBody))
		if err != nil {
			httpError(w, err)
			return
		}
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "vex"
		}
		stmts, err := vex.Parse(b, name)
		if err != nil {
			httpError(w, BadEvent{err})
			return
		}
		d := vex.Document{ID: task.NewID(e.now()), Name: name, Created: e.now().Format(time.RFC3339), Statements: stmts}
		if _, err := store.PutJSONIfAbsent(r.Context(), e.Store, storekey.VEXDocument(d.ID), d); err != nil {
			httpError(w, err)
			return
		}
		e.audited(r, "vex.create", d.ID+" "+name)
		writeJSON(w, http.StatusCreated, d)
	})))
	mux.HandleFunc("DELETE /v1/vex/{id}", e.allow(apikeys.Manage, e.rereports(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !task.ValidID(id) {
			httpError(w, store.ErrNotFound)
			return
		}
		if ok, err := e.Store.Exists(r.Context(), storekey.VEXDocument(id)); err != nil || !ok {
			httpError(w, errors.Join(err, store.ErrNotFound))
			return
		}
		if err := e.Store.Delete(r.Context(), storekey.VEXDocument(id)); err != nil {
			httpError(w, err)
			return
		}
		e.audited(r, "vex.delete", id)
		w.WriteHeader(http.StatusNoContent)
	})))
}
