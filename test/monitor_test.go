package test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/changes"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/task"
)

// npmMirror writes an advisory mirror of the corpus's npm OSV export,
// without the records named in withhold.
func npmMirror(t *testing.T, withhold ...string) string {
	t.Helper()
	src, err := zip.OpenReader(filepath.Join(sharedDir(t), "corpus", "advisories", "osv", "npm", "all.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "osv", "npm"), 0o755)
	f, err := os.Create(filepath.Join(dir, "osv", "npm", "all.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range src.File {
		if strings.Contains(strings.Join(withhold, " "), strings.TrimSuffix(e.Name, ".json")) {
			continue
		}
		r, _ := e.Open()
		w, _ := zw.Create(e.Name)
		io.Copy(w, r)
		r.Close()
	}
	zw.Close()
	f.Close()
	return dir
}

// TestRematchOnAdvisoryUpdate: an image scanned against a DB that lacks
// one real npm advisory is re-reported, when a DB with it is published,
// by exactly one rematch task that fetches no blob; the report API serves
// the last report marked stale until then, and the change lists the new
// vulnerability.
func TestRematchOnAdvisoryUpdate(t *testing.T) {
	needDockerRegistry(t)
	addr := startDebianRegistry(t)
	u, _ := url.Parse("http://" + addr)
	counter := &blobCounter{gets: map[string]int{}}
	proxy := httptest.NewServer(counter.wrap(httputil.NewSingleHostReverseProxy(u)))
	defer proxy.Close()
	host := strings.TrimPrefix(proxy.URL, "http://")
	img := corpusDebian(t)
	push(t, img, host+"/team/app:1.0")
	d, _ := img.Digest()

	a := newAPIEnvAt(t, t.TempDir()) // no DB yet
	a.do(t, "POST", "/v1/registries", `{"id":"r","kind":"generic","hosts":["`+host+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	ctx := context.Background()
	a.env.Config.AdvisoryMirror = npmMirror(t, "GHSA-35jh-r3h4-6jhm")
	if _, err := a.env.SyncAdvisories(ctx, nil); err != nil {
		t.Fatal(err)
	}
	a.scanOK(t, host+"/team/app:1.0")
	report1 := getReport(t, a, d.String())
	if has(report1, "GHSA-35jh-r3h4-6jhm") || !has(report1, "GHSA-p6mc-m468-83gw") {
		t.Fatalf("first DB: %v", ids(report1))
	}
	blobs := counter.count(layerDigests(t, img)...)

	// A second DB with the withheld advisory, published by a
	// sync-advisories instance whose jobs are held (a recorder): until the
	// re-match has run the report API serves the last report, stale.
	syncer, held := throttledEnv(t, a.store, nil)
	syncer.Config.AdvisoryMirror = npmMirror(t)
	out, err := syncer.SyncAdvisories(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var o suite.Outcome
	json.Unmarshal(out, &o)
	if !strings.HasPrefix(o.Task, "rematch-") {
		t.Fatalf("sync: %s", out)
	}
	if r := getReport(t, a, d.String()); !r.Stale || r.AdvisoryDB.Version != report1.AdvisoryDB.Version {
		t.Errorf("before the re-match: stale=%v version %s", r.Stale, r.AdvisoryDB.Version)
	}
	// The held jobs delivered twice, as a queue may.
	steps, err := syncer.Steps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(held.jobs) != 1 {
		t.Fatalf("%d rematch jobs for one image, want one batch", len(held.jobs))
	}
	for _, j := range append(held.jobs, held.jobs...) {
		if err := steps.Handlers().Run(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	v := a.taskDone(t, o.Task)
	if v.Type != task.Rematch || v.Status != task.Succeeded || v.Counts.Total != 1 {
		t.Fatalf("rematch task: %+v", v)
	}
	r2 := getReport(t, a, d.String())
	if r2.Stale || !has(r2, "GHSA-35jh-r3h4-6jhm") || r2.AdvisoryDB.Version == report1.AdvisoryDB.Version {
		t.Errorf("after the re-match: stale=%v %v", r2.Stale, ids(r2))
	}
	if n := counter.count(layerDigests(t, img)...); n != blobs {
		t.Errorf("the re-match fetched layer blobs: %d → %d", blobs, n)
	}
	// Asking again (a duplicate sync notification) makes no second task.
	if again, _ := a.env.StartRematch(ctx); again.ID != o.Task {
		t.Errorf("a second rematch task %s", again.ID)
	}
	code, body := a.do(t, "GET", "/v1/images/"+d.String()+"/changes", "")
	var cs struct{ Changes []changes.Change }
	json.Unmarshal([]byte(body), &cs)
	if code != http.StatusOK || len(cs.Changes) != 1 {
		t.Fatalf("changes: %d %s", code, body)
	}
	c := cs.Changes[0]
	if len(c.Added) != 1 || c.Added[0].ID != "GHSA-35jh-r3h4-6jhm" || len(c.Resolved) != 0 || c.From != report1.AdvisoryDB.Version {
		t.Errorf("change: %+v", c)
	}
	if _, body := a.do(t, "GET", "/v1/changes?since=2000-01-01T00:00:00Z", ""); !strings.Contains(body, "GHSA-35jh-r3h4-6jhm") {
		t.Errorf("GET /v1/changes: %s", body)
	}
	if code, _ := a.do(t, "GET", "/v1/changes?since=yesterday", ""); code != http.StatusBadRequest {
		t.Errorf("a bad since: %d", code)
	}
}

func getReport(t *testing.T, a *apiEnv, d string) report.Report {
	t.Helper()
	code, body := a.do(t, "GET", "/v1/images/"+d+"/report", "")
	if code != http.StatusOK {
		t.Fatalf("report: %d %s", code, body)
	}
	var r report.Report
	json.Unmarshal([]byte(body), &r)
	return r
}

func has(r report.Report, id string) bool {
	for _, f := range r.Findings {
		if f.ID == id {
			return true
		}
	}
	return false
}

func ids(r report.Report) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Category == "application-vulnerability" {
			out = append(out, f.ID)
		}
	}
	return out
}
