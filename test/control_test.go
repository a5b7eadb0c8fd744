package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/notify"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/task"
)

// privateKey is a PEM private key header and body, as the sensitive-file
// check finds them (not a usable key).
const privateKey = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmwIDAQABAoIBAQCkdASmqDl+5T5pX\n-----END RSA PRIVATE KEY-----\n"

// tinyImage is a one-layer image of files, created at created: distinct
// files make distinct digests.
func tinyImage(t *testing.T, files map[string]string, created time.Time) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(tarOf(t, files), types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.CreatedAt(img, v1.Time{Time: created}); err != nil {
		t.Fatal(err)
	}
	return img
}

// pushTiny pushes a distinct tiny image to ref and returns its digest.
func pushTiny(t *testing.T, ref string, created time.Time) string {
	t.Helper()
	img := tinyImage(t, map[string]string{"etc/image": ref, "root/.ssh/id_rsa": privateKey}, created)
	push(t, img, ref)
	d, _ := img.Digest()
	return d.String()
}

// taskDone polls a task until it is no longer running.
func (a *apiEnv) taskDone(t *testing.T, id string) task.View {
	t.Helper()
	var v task.View
	for range 600 {
		code, body := a.do(t, "GET", "/v1/tasks/"+id, "")
		if code != http.StatusOK {
			t.Fatalf("GET /v1/tasks/%s: %d %s", id, code, body)
		}
		v = task.View{}
		json.Unmarshal([]byte(body), &v)
		if v.Status != task.Running {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("task %s never finished: %+v", id, v)
	return v
}

// scanNow starts a scan-now task and waits for it.
func (a *apiEnv) scanNow(t *testing.T, body string) task.View {
	t.Helper()
	return a.runTask(t, "/v1/scan-now", body)
}

// runTask POSTs to a route that answers 202 with a task, and waits for it.
func (a *apiEnv) runTask(t *testing.T, path, body string) task.View {
	t.Helper()
	code, out := a.do(t, "POST", path, body)
	var v task.View
	json.Unmarshal([]byte(out), &v)
	if code != http.StatusAccepted || v.ID == "" {
		t.Fatalf("POST %s: %d %s", path, code, out)
	}
	return a.taskDone(t, v.ID)
}

// putSettings replaces the settings over the current version.
func (a *apiEnv) putSettings(t *testing.T, doc string) {
	t.Helper()
	code, body := a.send(t, "GET", "/v1/settings", "", map[string]string{"Authorization": "Bearer " + a.key})
	if code != http.StatusOK {
		t.Fatal(code, body)
	}
	var cur struct{ Version int }
	json.Unmarshal([]byte(body), &cur)
	code, body = a.send(t, "PUT", "/v1/settings", doc, map[string]string{"Authorization": "Bearer " + a.key, "If-Match": fmt.Sprintf(`"v%d"`, cur.Version)})
	if code != http.StatusOK {
		t.Fatalf("PUT /v1/settings %s: %d %s", doc, code, body)
	}
}

func images(v task.View) map[string]string {
	out := map[string]string{}
	for _, e := range v.Log {
		ref := e.Image
		if i := strings.Index(ref, "/"); i >= 0 {
			ref = ref[i+1:]
		}
		if i := strings.Index(ref, "@"); i >= 0 {
			ref = ref[:i] + ":" + e.Tag
		}
		out[ref] = e.Status
	}
	return out
}

// TestScanScopeAndTasks: against a real docker-registry with several
// namespaces, scope by namespace with a tag regex and by repository,
// repositories added later (auto-add on, then off), the tag's scan
// status, findings across images, settings validation and the 412.
func TestScanScopeAndTasks(t *testing.T) {
	needDockerRegistry(t)
	host := startDebianRegistry(t)
	now := time.Now()
	digests := map[string]string{}
	for _, ref := range []string{"team/app:v1", "team/app:v2", "team/app:dev", "team/lib:v1", "other/tool:v1", "other/tool:latest", "third/x:v1"} {
		digests[ref] = pushTiny(t, host+"/"+ref, now)
	}
	a := newAPIEnv(t)
	if code, body := a.do(t, "POST", "/v1/registries", `{"id":"reg","kind":"generic","hosts":["`+host+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`); code != http.StatusCreated {
		t.Fatal(code, body)
	}
	a.putSettings(t, `{"scan":{"cycle":"1w","scope":[{"registry":"reg","namespaces":["team"],"tagRegex":"v[0-9]+"},{"registry":"`+host+`","repositories":["other/tool"]}]}}`)
	v := a.scanNow(t, `{"registryTypes":["generic"]}`)
	want := map[string]string{"team/app:v1": "succeeded", "team/app:v2": "succeeded", "team/lib:v1": "succeeded", "other/tool:v1": "succeeded", "other/tool:latest": "succeeded"}
	if got := images(v); fmt.Sprint(got) != fmt.Sprint(want) || v.Status != task.Succeeded || v.Counts.Total != 5 {
		t.Fatalf("scan-now over the scope: %s %v", v.Status, got)
	}

	// The tag's scan status: its digest, complete, and a report link that
	// answers; a tag outside the scope is not scanned.
	code, body := a.do(t, "GET", "/v1/repositories/team/app/tags/v1/scan-status", "")
	var ts suite.TagStatus
	json.Unmarshal([]byte(body), &ts)
	if code != http.StatusOK || ts.Status != "complete" || ts.Digest != digests["team/app:v1"] || ts.Report == "" {
		t.Fatalf("scan-status: %d %s", code, body)
	}
	if code, body := a.do(t, "GET", ts.Report, ""); code != http.StatusOK || !strings.Contains(body, "LS-SECRET-PRIVATE-KEY") {
		t.Errorf("report link %s: %d", ts.Report, code)
	}
	if _, body := a.do(t, "GET", "/v1/repositories/team/app/tags/dev/scan-status", ""); !strings.Contains(body, `"not-scanned"`) {
		t.Errorf("dev: %s", body)
	}

	// Findings across images, by category and repository.
	code, body = a.do(t, "GET", "/v1/findings?category=sensitive-file&repository=team/app", "")
	var fs struct {
		Total    int
		Findings []suite.ImageFinding
	}
	json.Unmarshal([]byte(body), &fs)
	if code != http.StatusOK || fs.Total != 2 || fs.Findings[0].ID != "LS-SECRET-PRIVATE-KEY" || fs.Findings[0].Severity.Rank() < fs.Findings[1].Severity.Rank() {
		t.Errorf("findings: %d %s", code, body)
	}
	// A limit keeps the most severe and still counts them all.
	top := fs.Findings[0]
	_, body = a.do(t, "GET", "/v1/findings?category=sensitive-file&repository=team/app&limit=1", "")
	fs.Findings = nil
	json.Unmarshal([]byte(body), &fs)
	if fs.Total != 2 || len(fs.Findings) != 1 || fs.Findings[0].ID != top.ID || fs.Findings[0].Image != top.Image {
		t.Errorf("findings, limit 1: %s", body)
	}
	if code, _ := a.do(t, "GET", "/v1/findings?severity=bad", ""); code != http.StatusBadRequest {
		t.Errorf("a bad severity: %d", code)
	}

	// Auto-add (on by default): a repository created after the settings
	// joins the scope.
	pushTiny(t, host+"/team/new:v1", now)
	if got := images(a.scanNow(t, `{}`)); got["team/new:v1"] != "succeeded" || len(got) != 6 {
		t.Errorf("auto-add on: %v", got)
	}
	// Off: the scope is frozen to the repositories seen by then.
	a.putSettings(t, `{"scan":{"autoAddRepositories":false,"scope":[{"registry":"reg","namespaces":["team"],"tagRegex":"v[0-9]+"},{"registry":"reg","repositories":["other/tool"]}]}}`)
	pushTiny(t, host+"/team/newer:v1", now)
	if got := images(a.scanNow(t, `{}`)); got["team/newer:v1"] != "" || got["team/new:v1"] != "succeeded" {
		t.Errorf("auto-add off: %v", got)
	}

	// Validation names the field; a stale ETag is 412; no key is 401; a
	// viewer may read but not write.
	for doc, field := range map[string]string{
		`{"scan":{"scope":[{"tagRegex":"v(["}]}}`:            "scan.scope[0].tagRegex",
		`{"checks":{"disabledChecks":["LS-NO-SUCH-CHECK"]}}`: "disabledChecks[0]",
		`{"quota":{"purchased":-5}}`:                         "quota.purchased",
		`{"scan":{"cycle":"daily"}}`:                         "scan.cycle",
	} {
		if code, body := a.do(t, "PUT", "/v1/settings", doc); code != http.StatusBadRequest || !strings.Contains(body, field) {
			t.Errorf("%s: %d %s", doc, code, body)
		}
	}
	if code, body := a.send(t, "PUT", "/v1/settings", `{}`, map[string]string{"Authorization": "Bearer " + a.key, "If-Match": `"v1"`}); code != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: %d %s", code, body)
	}
	if code, _ := a.doAs(t, "", "GET", "/v1/settings", ""); code != http.StatusUnauthorized {
		t.Errorf("no key: %d", code)
	}
	_, viewer, _ := a.env.Keys.Create(context.Background(), "viewer", "v", nil, "test")
	if code, _ := a.doAs(t, viewer, "GET", "/v1/tasks?type=scan-now", ""); code != http.StatusOK {
		t.Errorf("viewer reads tasks: %d", code)
	}
	if code, _ := a.doAs(t, viewer, "PUT", "/v1/settings", `{}`); code != http.StatusForbidden {
		t.Errorf("viewer writes settings: %d", code)
	}
	_, ci, _ := a.env.Keys.Create(context.Background(), "ci", "c", nil, "test")
	if code, _ := a.doAs(t, ci, "POST", "/v1/scan-now", `{}`); code != http.StatusForbidden {
		t.Errorf("a ci key scans the whole scope: %d", code)
	}
	code, body = a.do(t, "GET", "/v1/tasks?type=scan-now&status=succeeded", "")
	var list struct{ Tasks []task.View }
	json.Unmarshal([]byte(body), &list)
	if code != http.StatusOK || len(list.Tasks) != 3 || list.Tasks[0].Created < list.Tasks[2].Created {
		t.Errorf("tasks: %d %s", code, body)
	}
	if !strings.Contains(auditLog(t, a), "settings.update") {
		t.Error("settings changes are not audited")
	}
}

func auditLog(t *testing.T, a *apiEnv) string {
	_, body := a.do(t, "GET", "/v1/audit", "")
	return body
}

// TestTimeRangeQuotaAndDigestPolicy: images outside the time range are
// skipped (and the task still succeeds); the quota is consumed once per
// digest per cycle and, when used up, scans are refused with
// quota-exhausted in the log and a notification queued; pushes of a new
// digest are scanned at once unless the policy is off; a periodic run
// skips digests already scanned in its cycle.
func TestTimeRangeQuotaAndDigestPolicy(t *testing.T) {
	needDockerRegistry(t)
	host := startDebianRegistry(t)
	now := time.Now()
	old := pushTiny(t, host+"/ns/old:v1", now.AddDate(-1, 0, 0))
	pushTiny(t, host+"/ns/fresh:v1", now.Add(-time.Hour))
	a := newAPIEnv(t)
	a.do(t, "POST", "/v1/registries", `{"id":"reg","kind":"generic","hosts":["`+host+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"},"webhook":{"allowUnauthenticated":true}}`)

	a.putSettings(t, `{"scan":{"timeRangeDays":30}}`)
	if code, body := a.do(t, "POST", "/v1/scan-now", `{"registryTypes":["harbor"]}`); code != http.StatusBadRequest {
		t.Errorf("scan-now of a type without connections: %d %s", code, body)
	}
	v := a.scanNow(t, `{"registryTypes":["generic"]}`)
	if got := images(v); got["ns/old:v1"] != task.Skipped || got["ns/fresh:v1"] != "succeeded" || v.Status != task.Succeeded {
		t.Errorf("time range: %s %v", v.Status, got)
	}
	// All out of range: a success with nothing scanned.
	a.putSettings(t, `{"scan":{"timeRangeDays":1,"scope":[{"repositories":["ns/old"]}]}}`)
	if v := a.scanNow(t, `{}`); v.Status != task.Succeeded || v.Counts.Skipped != 1 || v.Counts.Succeeded != 0 {
		t.Errorf("all skipped: %+v", v.Counts)
	}

	// Quota: two units; ns/fresh:v1 was counted in this cycle already.
	t.Setenv("QUOTA_HOOK", "quota-hook-secret")
	hook := &receiver{kind: notify.HTTP, secret: "quota-hook-secret"}
	hookURL := startReceiver(t, hook)
	a.putSettings(t, `{"quota":{"purchased":2},"notifications":[{"id":"q","kind":"http","url":"`+hookURL+`/q","secret":{"env":"QUOTA_HOOK"},"events":["quota-nearly-used","quota-used-up"],"allowPrivate":true}]}`)
	same := pushTiny(t, host+"/ns/a:v1", now)
	push(t, tinyImage(t, map[string]string{"etc/image": host + "/ns/a:v1", "root/.ssh/id_rsa": privateKey}, now), host+"/ns/a:v2") // the same digest, another tag
	pushTiny(t, host+"/ns/b:v1", now)
	v = a.scanNow(t, `{}`)
	got := images(v)
	// ns/a:v1 and ns/a:v2 share a digest and one unit; the second unit was
	// taken by ns/fresh:v1 earlier in the cycle... which leaves ns/b and
	// ns/old without one.
	if got["ns/a:v1"] != "succeeded" || got["ns/a:v2"] != "succeeded" || got["ns/fresh:v1"] != "succeeded" || got["ns/b:v1"] != task.QuotaExhausted || got["ns/old:v1"] != task.QuotaExhausted {
		t.Errorf("quota: %v (%s)", got, same)
	}
	code, body := a.do(t, "GET", "/v1/quota", "")
	var q suite.QuotaView
	json.Unmarshal([]byte(body), &q)
	if code != http.StatusOK || q.Consumed != 2 || *q.Purchased != 2 || !q.Exhausted || q.Cycle == "" {
		t.Errorf("quota: %d %s", code, body)
	}
	// Told once that it is nearly used (2 of 2 is over 90%) and once that
	// it is used up, however many scans were refused.
	var kinds []string
	for _, ev := range hook.events() {
		kinds = append(kinds, ev.Kind)
	}
	if fmt.Sprint(kinds) != "[quota-nearly-used quota-used-up]" {
		t.Errorf("quota notifications: %v", kinds)
	}
	if code, body := a.do(t, "POST", "/v1/scans", `{"image":"`+host+`/ns/b:v1"}`); code != http.StatusTooManyRequests || !strings.Contains(body, "quota") {
		t.Errorf("an on-demand scan over the quota: %d %s", code, body)
	}
	a.scanOK(t, host+"/ns/a:v1") // counted in this cycle: free

	// Push of a new digest: scanned at once; with the policy off, logged
	// as skipped.
	harbor := func(occur int, tag string) string {
		return fmt.Sprintf(`{"type":"PUSH_ARTIFACT","occur_at":%d,"event_data":{"resources":[{"tag":"%s","resource_url":"%s/ns/a:%s"}],"repository":{"repo_full_name":"ns/a"}}}`, occur, tag, host, tag)
	}
	a.putSettings(t, `{}`) // no quota
	pushTiny(t, host+"/ns/a:v3", now)
	code, body = a.send(t, "POST", "/v1/events", harbor(1, "v3"), nil)
	var out suite.Outcome
	json.Unmarshal([]byte(body), &out)
	if code != http.StatusAccepted || out.Task == "" || len(out.Images) != 1 {
		t.Fatalf("push: %d %s", code, body)
	}
	if v := a.taskDone(t, out.Task); v.Type != task.Push || v.Status != task.Succeeded {
		t.Errorf("push task: %+v", v)
	}
	a.putSettings(t, `{"scan":{"scanOnDigestChange":false}}`)
	pushTiny(t, host+"/ns/a:v4", now)
	_, body = a.send(t, "POST", "/v1/events", harbor(2, "v4"), nil)
	out = suite.Outcome{}
	json.Unmarshal([]byte(body), &out)
	if v := a.taskDone(t, out.Task); len(out.Images) != 0 || v.Log[0].Reason != task.ReasonDigestPolicy {
		t.Errorf("push with the policy off: %s %+v", body, v.Log)
	}

	// Periodic: the cycle's task skips digests already scanned in the cycle.
	a.putSettings(t, `{"scan":{"cycle":"1w","scope":[{"repositories":["ns/a"]}]}}`)
	res, err := a.env.PeriodicScan(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(res, &out)
	pv := a.taskDone(t, out.Task)
	// The weekly cycle kept its anchor: v1, v2 (one digest) and v3 were
	// scanned in it already; v4, whose push was skipped, is scanned now.
	if got := images(pv); pv.Type != task.Periodic || pv.Counts.Reasons[task.ReasonCycle] != 3 || got["ns/a:v4"] != "succeeded" {
		t.Errorf("periodic: %+v %v", pv.Counts, got)
	}
	if res, _ := a.env.PeriodicScan(context.Background(), nil); strings.Contains(string(res), `"task"`) {
		t.Errorf("a second run in the same cycle started a task: %s", res)
	}
	// A week later the next cycle scans each digest once again.
	a.env.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	res, _ = a.env.PeriodicScan(context.Background(), nil)
	out = suite.Outcome{}
	json.Unmarshal(res, &out)
	if out.Task == "" || out.Task == pv.ID {
		t.Fatalf("no new cycle: %s", res)
	}
	nv := a.taskDone(t, out.Task)
	if nv.Counts.Succeeded != 3 || nv.Counts.Reasons[task.ReasonCycle] != 1 {
		t.Errorf("next cycle: %+v", nv.Counts)
	}
	_ = old
}

// recorder is a dispatcher that only records jobs: admission is the
// subject, not the scans.
type recorder struct {
	mu   sync.Mutex
	jobs []dispatch.Envelope
}

func (r *recorder) Dispatch(ctx context.Context, env dispatch.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs = append(r.jobs, env)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.jobs)
}

// throttledEnv is an Env on store dir with its own clock and a recording
// dispatcher: one function instance.
func throttledEnv(t *testing.T, dir string, clock func() time.Time) (*suite.Env, *recorder) {
	st, err := store.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	env := newSuiteEnv(suite.Config{Store: dir}, st, rec, nopLogger())
	env.Now = clock
	return env, rec
}

// TestThrottleAndTaskTimeout is the seed's arithmetic scaled down: 20
// images at 3 an hour cannot all start within a 3-hour task timeout
// (3 at each of the hours 0, 1, 2 and 3; the other 8 are skipped), while
// at 20 an hour they all start in the first.
func TestThrottleAndTaskTimeout(t *testing.T) {
	needDockerRegistry(t)
	host := startDebianRegistry(t)
	img := tinyImage(t, map[string]string{"etc/x": "x"}, time.Now())
	for i := range 20 {
		push(t, img, fmt.Sprintf("%s/seed/app:t%02d", host, i))
	}
	for _, tc := range []struct {
		perHour, started, skipped int
		status                    string
	}{
		// The recorder runs no scan, so the images started are settled as
		// failed ("not planned") once the deadline has passed.
		{3, 12, 8, task.TimedOut},
		{20, 20, 0, task.Failed},
	} {
		dir := t.TempDir()
		copyDB(t, dir)
		start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		clock := start
		env, rec := throttledEnv(t, dir, func() time.Time { return clock })
		ctx := context.Background()
		if err := env.Registries.Create(ctx, mustConnection(t, `{"id":"h","kind":"generic","hosts":["`+host+`"],"insecure":true,"imagesPerHour":`+fmt.Sprint(tc.perHour)+`,"auth":{"method":"none"}}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := env.PutSettings(ctx, []byte(`{"scan":{"cycle":"stop"},"task":{"timeoutMinutes":180}}`), -1, "test"); err != nil {
			t.Fatal(err)
		}
		v, err := env.ScanNow(ctx, []string{"generic"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		for _, after := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 3*time.Hour + time.Minute} {
			clock = start.Add(after)
			if _, err := env.PeriodicScan(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		v, _ = env.TaskView(ctx, v.ID)
		if rec.count() != tc.started || v.Counts.Skipped != tc.skipped || v.Counts.Reasons[task.ReasonTimeout] != tc.skipped || v.Counts.Failed != tc.started || v.Status != tc.status {
			t.Errorf("%d an hour: %d started, %+v, %s", tc.perHour, rec.count(), v.Counts, v.Status)
		}
	}
}

// TestConcurrentInstancesCountExactly: four function instances on one
// store admit at once; the throttle's and the quota's counts hold.
func TestConcurrentInstancesCountExactly(t *testing.T) {
	needDockerRegistry(t)
	host := startDebianRegistry(t)
	for i := range 8 {
		pushTiny(t, fmt.Sprintf("%s/c/app:t%d", host, i), time.Now())
	}
	for _, tc := range []struct {
		name, conn, settings string
		want                 int
	}{
		{"throttle of 6 an hour", `"imagesPerHour":6`, `{"scan":{"cycle":"stop"}}`, 6},
		{"quota of 5", `"imagesPerHour":-1`, `{"scan":{"cycle":"stop"},"quota":{"purchased":5}}`, 5},
	} {
		dir := t.TempDir()
		copyDB(t, dir)
		now := time.Now()
		first, _ := throttledEnv(t, dir, func() time.Time { return now })
		ctx := context.Background()
		first.Registries.Create(ctx, mustConnection(t, `{"id":"h","kind":"generic","hosts":["`+host+`"],"insecure":true,`+tc.conn+`,"auth":{"method":"none"}}`))
		if _, err := first.PutSettings(ctx, []byte(tc.settings), -1, "test"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		digests, started := map[string]bool{}, 0
		var mu sync.Mutex
		for range 4 {
			env, rec := throttledEnv(t, dir, func() time.Time { return now })
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := env.ScanNow(ctx, nil, "test"); err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				started += len(rec.jobs)
				for _, j := range rec.jobs {
					var job struct{ Source struct{ Location string } }
					json.Unmarshal(j.Job, &job)
					digests[job.Source.Location[strings.Index(job.Source.Location, "@")+1:]] = true
				}
			}()
		}
		wg.Wait()
		// The throttle counts images started; the quota distinct digests
		// (a digest another instance paid for is free).
		if tc.name == "throttle of 6 an hour" && started != tc.want {
			t.Errorf("%s: %d images started", tc.name, started)
		}
		if tc.name == "quota of 5" {
			if len(digests) != tc.want {
				t.Errorf("%s: %d distinct images started", tc.name, len(digests))
			}
			if q, _ := first.Quota(ctx); q.Consumed != 5 {
				t.Errorf("quota consumed %d", q.Consumed)
			}
		}
	}
}

// TestCheckSwitchesAndWhitelists: switching checks off re-reports from
// stored facts (no layer blob is fetched again), and whitelist rules mark
// findings, which leave the counts; the rules' CRUD.
func TestCheckSwitchesAndWhitelists(t *testing.T) {
	needDockerRegistry(t)
	addr := startDebianRegistry(t)
	u, _ := url.Parse("http://" + addr)
	counter := &blobCounter{gets: map[string]int{}}
	proxy := httptest.NewServer(counter.wrap(httputil.NewSingleHostReverseProxy(u)))
	defer proxy.Close()
	host := strings.TrimPrefix(proxy.URL, "http://")
	img := tinyImage(t, map[string]string{"root/.ssh/id_rsa": privateKey, "app/.env": "DB_PASSWORD=Sup3rS3cretValue\n"}, time.Now())
	push(t, img, host+"/w/app:1")
	d, _ := img.Digest()
	layers := layerDigests(t, img)
	a := newAPIEnv(t)
	a.do(t, "POST", "/v1/registries", `{"id":"w","kind":"generic","hosts":["`+host+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	reportOf := func() report.Report {
		a.scanOK(t, host+"/w/app:1")
		_, body := a.do(t, "GET", "/v1/images/"+d.String()+"/report", "")
		var r report.Report
		json.Unmarshal([]byte(body), &r)
		return r
	}
	has := func(r report.Report, id string) (found, whitelisted bool) {
		for _, f := range r.Findings {
			if f.ID == id {
				return true, f.Whitelisted
			}
		}
		return false, false
	}
	r := reportOf()
	if ok, _ := has(r, "LS-SECRET-PRIVATE-KEY"); !ok {
		t.Fatalf("no private key finding: %+v", r.Findings)
	}
	if ok, _ := has(r, "LS-SECRET-CONFIG-PASSWORD"); !ok {
		t.Fatalf("no password finding: %+v", r.Findings)
	}
	fetched := counter.count(layers...)
	a.putSettings(t, `{"checks":{"passwordLeak":false}}`)
	r = reportOf()
	if ok, _ := has(r, "LS-SECRET-CONFIG-PASSWORD"); ok {
		t.Error("the password-leak switch is off but the finding is reported")
	}
	if ok, _ := has(r, "LS-SECRET-PRIVATE-KEY"); !ok {
		t.Error("the private key went with the password switch")
	}
	a.putSettings(t, `{"checks":{"sensitiveFiles":false}}`)
	r = reportOf()
	if sensitive(r) {
		t.Error("the sensitive-file scan is off but its findings are reported")
	}
	if n := counter.count(layers...); n != fetched {
		t.Errorf("switching checks fetched layer blobs again: %d → %d", fetched, n)
	}

	// Whitelists: a file rule for this repository.
	a.putSettings(t, `{}`)
	code, body := a.do(t, "POST", "/v1/whitelists", `{"type":"file","category":"sensitive-file","alertID":"LS-SECRET-PRIVATE-KEY","repositories":["`+host+`/w/app"],"note":"test fixture"}`)
	var rule struct{ ID string }
	json.Unmarshal([]byte(body), &rule)
	if code != http.StatusCreated || rule.ID == "" {
		t.Fatalf("POST /v1/whitelists: %d %s", code, body)
	}
	r = reportOf()
	if ok, wl := has(r, "LS-SECRET-PRIVATE-KEY"); !ok || !wl {
		t.Errorf("whitelisted finding: found %v whitelisted %v", ok, wl)
	}
	counted := 0
	for _, n := range r.Summary[scan.SensitiveFile] {
		counted += n
	}
	if counted != 1 { // the password; the whitelisted key is out of the counts
		t.Errorf("sensitive-file counts %v", r.Summary[scan.SensitiveFile])
	}
	if code, body := a.do(t, "POST", "/v1/whitelists", `{"type":"file","category":"system-vulnerability","alertID":"X"}`); code != http.StatusBadRequest {
		t.Errorf("a bad rule: %d %s", code, body)
	}
	if code, body := a.do(t, "PUT", "/v1/whitelists/"+rule.ID, `{"type":"vulnerability","vulnerabilities":["CVE-2024-0001"]}`); code != http.StatusOK || !strings.Contains(body, "CVE-2024-0001") {
		t.Errorf("PUT: %d %s", code, body)
	}
	if _, body := a.do(t, "GET", "/v1/whitelists?type=vulnerability", ""); !strings.Contains(body, rule.ID) {
		t.Errorf("list: %s", body)
	}
	if code, _ := a.do(t, "DELETE", "/v1/whitelists/"+rule.ID, ""); code != http.StatusNoContent {
		t.Errorf("DELETE: %d", code)
	}
	if code, _ := a.do(t, "GET", "/v1/whitelists/"+rule.ID, ""); code != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d", code)
	}
	if log := auditLog(t, a); !strings.Contains(log, "whitelist.create") || !strings.Contains(log, "whitelist.delete") {
		t.Error("whitelist changes are not audited")
	}
}

func mustConnection(t *testing.T, doc string) *registries.Connection {
	var c registries.Connection
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func sensitive(r report.Report) bool {
	for _, f := range r.Findings {
		if f.Category == scan.SensitiveFile {
			return true
		}
	}
	return false
}
