package test

import (
	"archive/zip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/changes"
	"github.com/layerscan/layerscan/shared/notify"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/task"
	"github.com/layerscan/layerscan/shared/verdict"
)

// npmMirror writes an advisory mirror of the corpus's npm OSV export,
// without the records named in withhold.
func npmMirror(t testing.TB, withhold ...string) string {
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

	// Notification targets: a DingTalk robot and an HTTP endpoint that
	// fails its first delivery.
	t.Setenv("DING_TOKEN", "ding-access-token-1")
	t.Setenv("DING_SECRET", "SEC0123456789abcdef")
	t.Setenv("HOOK_SECRET", "hook-hmac-secret")
	ding := &receiver{kind: notify.DingTalk, token: "ding-access-token-1", secret: "SEC0123456789abcdef"}
	hook := &receiver{kind: notify.HTTP, secret: "hook-hmac-secret", failN: 1}
	dingURL, hookURL := startReceiver(t, ding), startReceiver(t, hook)
	a.putSettings(t, `{"notifications":[
		{"id":"ding","kind":"dingtalk","url":"`+dingURL+`/robot/send","token":{"env":"DING_TOKEN"},"secret":{"env":"DING_SECRET"},"events":["new-vulnerability"],"minSeverity":"LOW","allowPrivate":true},
		{"id":"hook","kind":"http","url":"`+hookURL+`/layerscan","secret":{"env":"HOOK_SECRET"},"events":["new-vulnerability"],"repositories":["`+host+`/team/*"],"allowPrivate":true}]}`)
	if _, body := a.do(t, "GET", "/v1/settings", ""); strings.Contains(body, "SEC0123") || !strings.Contains(body, "DING_SECRET") {
		t.Errorf("settings show a secret or lose where it comes from: %s", body)
	}

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
	// One DingTalk message; the HTTP endpoint's first delivery failed and
	// waits for the janitor's retry a minute later.
	if got := ding.events(); len(got) != 1 || !strings.Contains(got[0].Detail, "GHSA-35jh-r3h4-6jhm") {
		t.Errorf("DingTalk messages: %+v", got)
	}
	if got := hook.events(); len(got) != 0 {
		t.Errorf("HTTP deliveries before the retry: %+v", got)
	}
	a.env.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if out, err := a.env.Janitor(ctx, nil); err != nil || !strings.Contains(string(out), `"notificationsSent":1`) {
		t.Errorf("janitor: %s %v", out, err)
	}
	a.env.Janitor(ctx, nil) // nothing is sent twice
	if got := hook.events(); len(got) != 1 || got[0].Kind != notify.NewVulnerability || got[0].Image == nil || got[0].Image.Digest != d.String() || got[0].Findings[0].ID != "GHSA-35jh-r3h4-6jhm" {
		t.Errorf("HTTP deliveries: %+v", got)
	}
	if len(ding.events()) != 1 {
		t.Error("DingTalk got a second message")
	}
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
	// since is a time, whatever its zone: a minute ago in UTC+8 still
	// includes the change just made, and an hour ahead excludes it.
	ago := time.Now().Add(-time.Minute).In(time.FixedZone("UTC+8", 8*3600)).Format(time.RFC3339)
	if _, body := a.do(t, "GET", "/v1/changes?since="+url.QueryEscape(ago), ""); !strings.Contains(body, "GHSA-35jh-r3h4-6jhm") {
		t.Errorf("GET /v1/changes since %s: %s", ago, body)
	}
	ahead := time.Now().Add(time.Hour).Format(time.RFC3339)
	if _, body := a.do(t, "GET", "/v1/changes?since="+url.QueryEscape(ahead), ""); strings.Contains(body, "GHSA-35jh-r3h4-6jhm") || !strings.Contains(body, `"more": false`) {
		t.Errorf("GET /v1/changes since %s: %s", ahead, body)
	}
	if code, _ := a.do(t, "GET", "/v1/changes?since=yesterday", ""); code != http.StatusBadRequest {
		t.Errorf("a bad since: %d", code)
	}

	// A re-match whose batch job is lost ends at the task timeout, failed
	// with the reason, instead of running for ever.
	lost, _ := throttledEnv(t, a.store, nil)
	lost.Config.AdvisoryMirror = npmMirror(t, "GHSA-p6mc-m468-83gw")
	out, err = lost.SyncAdvisories(ctx, nil) // its jobs go to a recorder: never run
	if err != nil {
		t.Fatal(err)
	}
	var lo suite.Outcome
	json.Unmarshal(out, &lo)
	a.env.Now = func() time.Time { return time.Now().Add(5 * time.Hour) }
	if _, err := a.env.PeriodicScan(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if lv, err := a.env.TaskView(ctx, lo.Task); err != nil || lv.Status != task.Failed || !strings.Contains(lv.Log[0].Reason, "not re-matched by the task timeout") {
		t.Errorf("a lost re-match: %+v %v", lv, err)
	}
	a.env.Now = nil

	// Retention: two months on, with 30 days kept, the change records and
	// the notification bookkeeping are gone; the image's report is not.
	a.putSettings(t, `{"scan":{"retentionDays":30}}`)
	a.env.Now = func() time.Time { return time.Now().AddDate(0, 2, 0) }
	if out, err := a.env.Janitor(ctx, nil); err != nil || !strings.Contains(string(out), `"deletedRecords":3`) {
		t.Errorf("janitor with retention: %s %v", out, err)
	}
	for _, dir := range []string{"changes", "notifications/queued", "notifications/sent", "notifications/lease"} {
		var left []string
		filepath.WalkDir(filepath.Join(a.store, dir), func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				left = append(left, p)
			}
			return nil
		})
		if len(left) != 0 {
			t.Errorf("%s left after retention: %v", dir, left)
		}
	}
	a.env.Now = nil
	if r := getReport(t, a, d.String()); !has(r, "GHSA-35jh-r3h4-6jhm") {
		t.Error("retention deleted the current report")
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

// receiver is a loopback notification endpoint that verifies what it gets
// the way DingTalk, or a receiver of layerscan's documented scheme, would.
type receiver struct {
	t       *testing.T
	kind    string // notify.DingTalk or notify.HTTP
	secret  string
	token   string
	failN   int // answer the first n deliveries with 500
	mu      sync.Mutex
	got     []notify.Event
	refused []string
	seen    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	rc.seen++
	if rc.seen <= rc.failN {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	refuse := func(why string) {
		rc.refused = append(rc.refused, why)
		http.Error(w, why, http.StatusForbidden)
	}
	switch rc.kind {
	case notify.DingTalk:
		// DingTalk: the access token, a timestamp within the hour, and
		// sign = base64(HMAC-SHA256(secret, timestamp+"\n"+secret)).
		q := r.URL.Query()
		ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
		if q.Get("access_token") != rc.token || err != nil || time.Since(time.UnixMilli(ts)).Abs() > time.Hour {
			refuse("token or timestamp")
			return
		}
		m := hmac.New(sha256.New, []byte(rc.secret))
		m.Write([]byte(q.Get("timestamp") + "\n" + rc.secret))
		if q.Get("sign") != base64.StdEncoding.EncodeToString(m.Sum(nil)) {
			refuse("sign")
			return
		}
		var msg struct {
			Msgtype  string
			Markdown struct{ Title, Text string }
		}
		if json.Unmarshal(body, &msg) != nil || msg.Msgtype != "markdown" || msg.Markdown.Text == "" {
			refuse("body")
			return
		}
		rc.got = append(rc.got, notify.Event{Title: msg.Markdown.Title, Detail: msg.Markdown.Text})
		w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	default:
		ts := r.Header.Get("X-Layerscan-Timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		m := hmac.New(sha256.New, []byte(rc.secret))
		m.Write([]byte(ts + "."))
		m.Write(body)
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute || r.Header.Get("X-Layerscan-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			refuse("signature")
			return
		}
		var ev notify.Event
		if json.Unmarshal(body, &ev) != nil || ev.Schema != notify.Schema {
			refuse("payload")
			return
		}
		rc.got = append(rc.got, ev)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (rc *receiver) events() []notify.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.refused) > 0 {
		rc.t.Errorf("%s receiver refused: %v", rc.kind, rc.refused)
	}
	return append([]notify.Event(nil), rc.got...)
}

func startReceiver(t *testing.T, rc *receiver) string {
	rc.t = t
	s := httptest.NewServer(rc)
	t.Cleanup(s.Close)
	return s.URL
}

// podReview is an AdmissionReview of a real Pod spec, as the API server
// sends it to a validating webhook.
func podReview(uid string, images ...string) string {
	var cs []string
	for i, img := range images {
		cs = append(cs, fmt.Sprintf(`{"name":"c%d","image":%q,"imagePullPolicy":"IfNotPresent","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"limits":{"memory":"128Mi"}},"securityContext":{"runAsNonRoot":true}}`, i, img))
	}
	return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid + `",
	"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
	"namespace":"prod","operation":"CREATE","userInfo":{"username":"system:serviceaccount:kube-system:replicaset-controller"},
	"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-7d4b9c8f5-x2k9q","namespace":"prod","labels":{"app":"web"}},
	"spec":{"containers":[` + strings.Join(cs, ",") + `],"restartPolicy":"Always","serviceAccountName":"web"}},"dryRun":false}}`
}

// TestVerdictAndAdmission: the default policy denies an image with a
// malicious sample and sensitive files and allows a clean one; a named
// policy of the settings applies; the admission webhook answers a Pod's
// review by its images' verdicts, resolving tags through the registry,
// and an image never scanned by admission.unscanned.
func TestVerdictAndAdmission(t *testing.T) {
	needDockerRegistry(t)
	host := startDebianRegistry(t)
	bad := corpusDebian(t)
	push(t, bad, host+"/team/app:1.0")
	clean := tinyImage(t, map[string]string{"etc/motd": "hello"}, time.Now())
	push(t, clean, host+"/team/clean:1.0")
	push(t, tinyImage(t, map[string]string{"etc/motd": "never scanned"}, time.Now()), host+"/team/new:1.0")
	badD, _ := bad.Digest()
	cleanD, _ := clean.Digest()
	a := newAPIEnv(t)
	a.do(t, "POST", "/v1/registries", `{"id":"r","kind":"generic","hosts":["`+host+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	a.scanOK(t, host+"/team/app:1.0")
	a.scanOK(t, host+"/team/clean:1.0")

	// The report in the standard formats, by ?format= and by Accept.
	for q, want := range map[string]string{"?format=SARIF": `"version": "2.1.0"`, "?format=spdx": `"spdxVersion": "SPDX-2.3"`, "": `"specVersion": "1.6"`} {
		h := map[string]string{"Authorization": "Bearer " + a.key}
		if q == "" {
			h["Accept"] = "application/vnd.cyclonedx+json"
		}
		code, body := a.send(t, "GET", "/v1/images/"+badD.String()+"/report"+q, "", h)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("report %s: %d %.200s", q, code, body)
		}
	}
	if code, _ := a.do(t, "GET", "/v1/images/"+badD.String()+"/report?format=pdf", ""); code != http.StatusBadRequest {
		t.Errorf("an unknown format: %d", code)
	}
	verdictOf := func(d, policy string) verdict.Verdict {
		code, body := a.do(t, "GET", "/v1/images/"+d+"/verdict?policy="+policy, "")
		var v verdict.Verdict
		json.Unmarshal([]byte(body), &v)
		if code != http.StatusOK {
			t.Fatalf("verdict: %d %s", code, body)
		}
		return v
	}
	if v := verdictOf(badD.String(), ""); v.Decision != verdict.Deny || !strings.Contains(strings.Join(v.Reasons, " "), "malicious-sample") {
		t.Errorf("the corpus image: %+v", v)
	}
	if v := verdictOf(cleanD.String(), "default"); v.Decision != verdict.Allow {
		t.Errorf("the clean image: %+v", v)
	}
	a.putSettings(t, `{"policies":[{"name":"strict","denyVulnerabilities":["CRITICAL","HIGH","MEDIUM","LOW"],"denyCategories":["build-instruction"],"denyMinSeverity":"MEDIUM"}]}`)
	if v := verdictOf(cleanD.String(), "strict"); v.Decision != verdict.Deny || !strings.Contains(strings.Join(v.Reasons, " "), "LS-BUILD-USER-ROOT") {
		t.Errorf("strict: %+v", v)
	}
	if code, _ := a.do(t, "GET", "/v1/images/"+cleanD.String()+"/verdict?policy=nope", ""); code != http.StatusBadRequest {
		t.Errorf("an unknown policy: %d", code)
	}

	review := func(images ...string) AdmissionAnswer {
		code, body := a.do(t, "POST", "/v1/admission", podReview("705ab4f5-6393-11e8-b7cc-42010a800002", images...))
		var out AdmissionAnswer
		json.Unmarshal([]byte(body), &out)
		if code != http.StatusOK || out.Response.UID != "705ab4f5-6393-11e8-b7cc-42010a800002" || out.Kind != "AdmissionReview" {
			t.Fatalf("admission: %d %s", code, body)
		}
		return out
	}
	if out := review(host + "/team/clean:1.0"); !out.Response.Allowed {
		t.Errorf("a clean Pod: %+v", out.Response)
	}
	if out := review(host+"/team/clean@"+cleanD.String(), host+"/team/app:1.0"); out.Response.Allowed || out.Response.Status.Code != 403 || !strings.Contains(out.Response.Status.Message, "team/app:1.0") {
		t.Errorf("a Pod with the corpus image: %+v", out.Response)
	}
	if out := review(host + "/team/new:1.0"); out.Response.Allowed || !strings.Contains(out.Response.Status.Message, "not scanned") {
		t.Errorf("an unscanned image: %+v", out.Response)
	}
	a.putSettings(t, `{"admission":{"unscanned":"allow"}}`)
	if out := review(host + "/team/new:1.0"); !out.Response.Allowed || len(out.Response.Warnings) != 1 {
		t.Errorf("unscanned allowed: %+v", out.Response)
	}
	if code, _ := a.do(t, "POST", "/v1/admission", `{"kind":"AdmissionReview"}`); code != http.StatusBadRequest {
		t.Errorf("a review without a request: %d", code)
	}
	if code, _ := a.doAs(t, "", "POST", "/v1/admission", podReview("u", host+"/team/clean:1.0")); code != http.StatusUnauthorized {
		t.Errorf("admission without a key: %d", code)
	}
}

// AdmissionAnswer is the response half of an AdmissionReview.
type AdmissionAnswer struct {
	Kind     string
	Response struct {
		UID     string
		Allowed bool
		Status  struct {
			Code    int
			Message string
		}
		Warnings []string
	}
}

// TestRematchUnderServe: under `layerscan serve` a re-match runs on the
// in-process pool, as scans do, not on a store queue nobody drains there.
func TestRematchUnderServe(t *testing.T) {
	needDockerRegistry(t)
	addr := startDebianRegistry(t)
	img := corpusDebian(t)
	push(t, img, addr+"/team/app:1.0")
	a := newAPIEnvAt(t, t.TempDir())
	a.do(t, "POST", "/v1/registries", `{"id":"r","kind":"generic","hosts":["`+addr+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	ctx := context.Background()
	a.env.Config.AdvisoryMirror = npmMirror(t, "GHSA-35jh-r3h4-6jhm")
	if _, err := a.env.SyncAdvisories(ctx, nil); err != nil {
		t.Fatal(err)
	}
	a.scanOK(t, addr+"/team/app:1.0")
	a.env.Config.AdvisoryMirror = npmMirror(t)
	out, err := a.env.SyncAdvisories(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var o suite.Outcome
	json.Unmarshal(out, &o)
	if v := a.taskDone(t, o.Task); v.Status != task.Succeeded || v.Counts.Total != 1 {
		t.Fatalf("rematch under serve: %+v", v)
	}
	d, _ := img.Digest()
	if r := getReport(t, a, d.String()); r.Stale || !has(r, "GHSA-35jh-r3h4-6jhm") {
		t.Errorf("after the re-match: stale=%v %v", r.Stale, ids(r))
	}
}

// TestCLISyncRematches: `layerscan db sync` (and `settings set` of a
// changed check selection) re-reports the stored images
// against the DB it publishes, as the sync-advisories function does.
func TestCLISyncRematches(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	from := filepath.Join(sharedDir(t), "corpus", "advisories")
	run := func(args ...string) string {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
		return string(out)
	}
	run("db", "sync", "--store", dir, "--from", from)
	run("scan", "--quiet", "--store", dir, filepath.Join(sharedDir(t), "corpus", "images", "alpine-3.9-app.tar"))
	if out := run("db", "sync", "--store", dir, "--from", from); !strings.Contains(out, "re-matched 1 stored image(s)") {
		t.Errorf("second sync: %s", out)
	}
	st, _ := store.NewFS(dir)
	db, err := advisory.Current(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	l, ok, err := pipeline.LoadLatest(context.Background(), st, "sha256:96b7f2d2216742a389c19eb391b21fab3ab57cb71e87bdc3a311520a7e6d0c80")
	if err != nil || !ok || l.DBVersion != db.Manifest.Version {
		t.Errorf("the stored image's latest report is against %q, the DB is %q (%v)", l.DBVersion, db.Manifest.Version, err)
	}
	if out := run("db", "sync", "--store", dir, "--from", from, "--no-rematch"); strings.Contains(out, "re-matched") {
		t.Errorf("--no-rematch re-matched: %s", out)
	}
	// layerscan settings set re-reports when the check selection changes.
	doc := filepath.Join(t.TempDir(), "settings.json")
	os.WriteFile(doc, []byte(`{"checks":{"disabledChecks":["LS-BUILD-USER-ROOT"],"accessKeyLeak":true,"passwordLeak":true,"sensitiveFiles":true,"maliciousSamples":true}}`), 0o644)
	if out := run("settings", "set", doc, "--store", dir); !strings.Contains(out, "re-matched 1 stored image(s)") {
		t.Errorf("settings set with a check switched off: %s", out)
	}
}

// TestPolicyChangeRereports: a whitelist rule, a VEX document or a check
// switch changes what a report says, so the stored images are re-reported
// from their facts at once (a re-match task, named in the answer), with no
// scan; a settings change that leaves the policy alone starts none.
func TestPolicyChangeRereports(t *testing.T) {
	needDockerRegistry(t)
	addr := startDebianRegistry(t)
	img := corpusDebian(t)
	push(t, img, addr+"/team/app:1.0")
	d, _ := img.Digest()
	a := newAPIEnv(t)
	a.do(t, "POST", "/v1/registries", `{"id":"r","kind":"generic","hosts":["`+addr+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	a.scanOK(t, addr+"/team/app:1.0")
	if !has(getReport(t, a, d.String()), "GHSA-p6mc-m468-83gw") {
		t.Fatal("lodash's advisory is not reported")
	}
	change := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, a.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Layerscan-Task")
	}
	code, id := change("POST", "/v1/whitelists", `{"type":"vulnerability","vulnerabilities":["GHSA-p6mc-m468-83gw"],"note":"accepted"}`)
	if code != http.StatusCreated || !strings.HasPrefix(id, "rematch-") {
		t.Fatalf("whitelist: %d, task %q", code, id)
	}
	if v := a.taskDone(t, id); v.Status != task.Succeeded || v.Counts.Total != 1 {
		t.Errorf("re-match after the whitelist: %+v", v)
	}
	r := getReport(t, a, d.String())
	for _, f := range r.Findings {
		if f.ID == "GHSA-p6mc-m468-83gw" && !f.Whitelisted {
			t.Error("the re-reported image does not accept the whitelisted finding")
		}
	}
	// A settings change that is no check switch leaves the reports alone.
	if code, id := change("PUT", "/v1/settings", `{"scan":{"cycle":"2w"}}`); code != http.StatusOK || id != "" {
		t.Errorf("settings without a policy change: %d, task %q", code, id)
	}
	// Switching a check off re-reports too.
	if code, id := change("PUT", "/v1/settings", `{"scan":{"cycle":"2w"},"checks":{"disabledChecks":["LS-BUILD-USER-ROOT"],"accessKeyLeak":true,"passwordLeak":true,"sensitiveFiles":true,"maliciousSamples":true}}`); code != http.StatusOK || id == "" {
		t.Errorf("a check switched off: %d, task %q", code, id)
	} else if a.taskDone(t, id); has(getReport(t, a, d.String()), "LS-BUILD-USER-ROOT") {
		t.Error("the switched-off check is still reported")
	}
}

// TestScanFinishedIsNotified: a target of scan-finished is told of each
// scan once, with the image and the counts of its findings, under the
// settings the report was built under.
func TestScanFinishedIsNotified(t *testing.T) {
	needDockerRegistry(t)
	host := startDebianRegistry(t)
	d := pushTiny(t, host+"/ns/app:v1", time.Now())
	a := newAPIEnv(t)
	a.do(t, "POST", "/v1/registries", `{"id":"reg","kind":"generic","hosts":["`+host+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	t.Setenv("DONE_HOOK", "done-hook-secret")
	hook := &receiver{kind: notify.HTTP, secret: "done-hook-secret"}
	hookURL := startReceiver(t, hook)
	a.putSettings(t, `{"notifications":[{"id":"done","kind":"http","url":"`+hookURL+`/done","secret":{"env":"DONE_HOOK"},"events":["scan-finished"],"allowPrivate":true}]}`)
	if v := a.scanNow(t, `{}`); v.Status != task.Succeeded {
		t.Fatalf("scan-now: %s %+v", v.Status, v.Log)
	}
	// The event follows the task's record of the report: wait for it.
	var evs []notify.Event
	for i := 0; i < 100 && len(evs) == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		evs = hook.events()
	}
	time.Sleep(100 * time.Millisecond) // and for a second one, which must not come
	evs = hook.events()
	if len(evs) != 1 || evs[0].Kind != notify.ScanFinished || evs[0].Image == nil || evs[0].Image.Digest != d || evs[0].Counts[scan.High]+evs[0].Counts[scan.Critical] == 0 {
		t.Errorf("scan-finished events: %+v", evs)
	}
}
