package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/task"
)

// fnProc is one function binary running in FC custom-runtime mode.
type fnProc struct {
	name string
	url  string
}

func buildFunctions(t testing.TB, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + "/"}
	for _, n := range names {
		args = append(args, "../functions/"+n)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("build functions: %v\n%s", err, out)
	}
	return dir
}

// bootstrapKey is the functions' LAYERSCAN_BOOTSTRAP_KEY in the tests.
const bootstrapKey = "lsk-test-bootstrap-9c41e0"

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// startFunction runs a function binary the way FC does: FC_SERVER_PORT set,
// configuration in the environment. It listens on loopback only.
func startFunction(t testing.TB, bin, name string, env []string) fnProc {
	t.Helper()
	fn, _ := startFunctionOn(t, bin, name, freePort(t), env)
	return fn
}

// startFunctionOn starts a function binary on a given port (a restarted
// instance answers where the killed one did) and returns its process.
func startFunctionOn(t testing.TB, bin, name, port string, env []string) (fnProc, *os.Process) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name))
	cmd.Env = append(append(os.Environ(), "FC_SERVER_PORT="+port, "LAYERSCAN_LISTEN_HOST=127.0.0.1"), env...)
	var logs bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, &logs}, lockedWriter{&mu, &logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("%s log:\n%s", name, logs.String())
			mu.Unlock()
		}
	})
	url := "http://127.0.0.1:" + port
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			t.Fatalf("%s did not start", name)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fnProc{name, url}, cmd.Process
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func invoke(t *testing.T, fn fnProc, body []byte) (*http.Response, []byte) {
	req, _ := http.NewRequest(http.MethodPost, fn.url+"/invoke", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("x-fc-request-id", fmt.Sprintf("test-%d", time.Now().UnixNano()))
	req.Header.Set("x-fc-function-name", fn.name)
	req.Header.Set("x-fc-access-key-id", "STS.test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke %s: %v", fn.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// ossEvent is what an FC OSS trigger delivers for one created object.
func ossEvent(key string) []byte {
	return []byte(fmt.Sprintf(`{"events":[{"eventName":"ObjectCreated:PutObject","eventSource":"acs:oss","eventTime":%q,"eventVersion":"1.0","region":"cn-hangzhou","oss":{"bucket":{"name":"layerscan-store"},"object":{"key":%q,"size":1},"ossSchemaVersion":"1.0"}}]}`, time.Now().UTC().Format(time.RFC3339), key))
}

// relay plays the FC OSS trigger: it watches the store folder's queue/
// prefix and invokes each new job object's function, retrying a failed
// invocation the way FC's async retries do.
type relay struct {
	t        *testing.T
	dir      string
	fns      map[string]fnProc
	mu       sync.Mutex
	seen     map[string]int
	invoked  map[string]int
	failures []string
	dup      bool // deliver every job twice
}

func (r *relay) run(ctx context.Context) {
	for ctx.Err() == nil {
		var keys []string
		filepath.Walk(filepath.Join(r.dir, "queue"), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() && strings.HasSuffix(p, ".json") {
				rel, _ := filepath.Rel(r.dir, p)
				keys = append(keys, filepath.ToSlash(rel))
			}
			return nil
		})
		for _, k := range keys {
			r.mu.Lock()
			tries := r.seen[k]
			r.mu.Unlock()
			if tries >= 4 {
				continue
			}
			step, _ := storekey.StepOf(k)
			fn, ok := r.fns[step]
			if !ok {
				continue
			}
			deliveries := 1
			if r.dup {
				deliveries = 2
			}
			for i := 0; i < deliveries; i++ {
				resp, body := invoke(r.t, fn, ossEvent(k))
				r.mu.Lock()
				r.invoked[step]++
				if resp.StatusCode != http.StatusOK || resp.Header.Get("x-fc-status") != "200" {
					r.failures = append(r.failures, fmt.Sprintf("%s: %d %s", k, resp.StatusCode, body))
				}
				r.mu.Unlock()
			}
			r.mu.Lock()
			r.seen[k]++
			r.mu.Unlock()
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// TestServerlessSuiteEndToEnd runs the functions as FC would: separate
// processes speaking the custom-runtime contract, fanned out through job
// objects in the store, with a relay playing the OSS trigger. A corpus image
// is pushed to a real registry, an ACR push event goes to registry-events,
// and the report must appear in the store; every job is delivered twice.
func TestServerlessSuiteEndToEnd(t *testing.T) {
	host := startDebianRegistryOrGGCR(t)
	push(t, corpusDebian(t), host+"/team/app:1.0")

	storeDir := t.TempDir()
	copyDB(t, storeDir)
	env := []string{
		"LAYERSCAN_STORE=file://" + storeDir,
		"LAYERSCAN_ACR_REGISTRY=" + host,
		"LAYERSCAN_INSECURE_REGISTRIES=" + host,
		"LAYERSCAN_BOOTSTRAP_KEY=" + bootstrapKey,
	}
	names := []string{"registry-events", "scan-image", "analyze-layer", "build-report", "scan-api"}
	bin := buildFunctions(t, names...)
	fns := map[string]fnProc{}
	for _, n := range names {
		fns[n] = startFunction(t, bin, n, env)
	}

	// A malformed event is a recorded failure and writes nothing.
	resp, body := invoke(t, fns["registry-events"], []byte(`{"push_data":{"tag":"1.0"},"repository":{}}`))
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("x-fc-status") != "404" || !strings.Contains(string(body), `"BadEvent"`) {
		t.Errorf("malformed event: %d %s %s", resp.StatusCode, resp.Header.Get("x-fc-status"), body)
	}
	resp, body = invoke(t, fns["registry-events"], []byte(`{"unknown":"event"}`))
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "unknown event") {
		t.Errorf("unknown event: %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(storeDir, "queue")); err == nil {
		t.Fatal("a bad event wrote a job")
	}
	// On the HTTP trigger the same mistake is a 400 with the reason.
	hr, err := http.Post(fns["registry-events"].url+"/webhook/harbor", "application/json", strings.NewReader(`{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"resource_url":"nohost"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusBadRequest || !strings.Contains(string(hb), "resource_url") {
		t.Errorf("bad webhook: %d %s", hr.StatusCode, hb)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rl := &relay{t: t, dir: storeDir, fns: fns, seen: map[string]int{}, invoked: map[string]int{}, dup: true}
	go rl.run(ctx)

	// The ACR push event, without its digest: registry-events resolves the tag.
	ev, _ := os.ReadFile("../events/acr-eventbridge-push.json")
	var m map[string]any
	json.Unmarshal(ev, &m)
	delete(m["data"].(map[string]any), "Digest")
	ev, _ = json.Marshal(m)
	resp, body = invoke(t, fns["registry-events"], ev)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "team/app@sha256:f29e6734") {
		t.Fatalf("ACR event: %d %s", resp.StatusCode, body)
	}

	digest := "sha256:f29e67343e1276e29ce0678a1aade8948db247c64f64515dc0fa8f8310abae19"
	var r report.Report
	deadline := time.Now().Add(90 * time.Second)
	for {
		reports, _ := filepath.Glob(filepath.Join(storeDir, "reports", digest, "*.json"))
		if len(reports) > 0 {
			b, _ := os.ReadFile(reports[0])
			if err := json.Unmarshal(b, &r); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			rl.mu.Lock()
			t.Fatalf("no report after 90 s; invocations %v, failures %v", rl.invoked, rl.failures)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.failures) > 0 {
		t.Errorf("failed invocations: %v", rl.failures)
	}
	if !r.Complete || r.Image.OS == nil || r.Image.OS.Family != "debian" || len(packageSet(&r)) != 106 {
		t.Errorf("report: complete=%v os=%+v packages=%d errors=%v", r.Complete, r.Image.OS, len(packageSet(&r)), r.Errors)
	}
	if got := systemPairs(&r); len(got) != 49 {
		t.Errorf("%d system vulnerability pairs, want 49", len(got))
	}
	if countCat(&r, scan.SensitiveFile) == 0 || countCat(&r, scan.MaliciousSample) == 0 {
		t.Error("risk findings missing from the suite's report")
	}
	// Every job was delivered twice, yet each scan has one build-report run:
	// one claim, and the 5 layers analysed once each (the second delivery
	// finds the job object gone).
	scans, _ := filepath.Glob(filepath.Join(storeDir, "scans", "*", "claim"))
	if len(scans) != 1 {
		t.Errorf("%d claims, want 1", len(scans))
	}
	if rl.invoked[pipeline.StepAnalyzeLayer] != 10 || rl.invoked[pipeline.StepBuildReport] != 2 {
		t.Errorf("invocations %v, want 10 analyze-layer (5 layers × 2) and 2 build-report", rl.invoked)
	}
	if left, _ := filepath.Glob(filepath.Join(storeDir, "queue", "*", "*.json")); len(left) != 0 {
		t.Errorf("job objects left behind: %v", left)
	}

	// The scan API serves the report and the scan's progress.
	api := fns["scan-api"].url
	if nr, _ := http.Get(api + "/v1/images/" + digest + "/report"); nr == nil || nr.StatusCode != http.StatusUnauthorized {
		t.Errorf("a report without an API key: %v", nr)
	}
	gr, err := get(api+"/v1/images/"+digest+"/report", bootstrapKey)
	if err != nil {
		t.Fatal(err)
	}
	gb, _ := io.ReadAll(gr.Body)
	gr.Body.Close()
	if gr.StatusCode != http.StatusOK || !strings.Contains(string(gb), `"layerscan.report/v1"`) {
		t.Errorf("GET report: %d %.200s", gr.StatusCode, gb)
	}
	id := filepath.Base(filepath.Dir(scans[0]))
	pr, err := get(api+"/v1/scans/"+id, bootstrapKey)
	if err != nil {
		t.Fatal(err)
	}
	var p scanrecord.Progress
	json.NewDecoder(pr.Body).Decode(&p)
	pr.Body.Close()
	if p.Status != "done" || p.Done != 5 || p.Total != 5 || p.Digest != digest {
		t.Errorf("progress %+v", p)
	}
	if nr, _ := get(api+"/v1/scans/no-such-scan", bootstrapKey); nr == nil || nr.StatusCode != http.StatusNotFound {
		t.Errorf("unknown scan: %v", nr)
	}

	// The control plane through the scan-api function: the push was a
	// task; settings are written with their ETag; scan-now is a task whose
	// scan runs through the functions again (cached layers, no new layer
	// job); the tag's scan status points at the report.
	var tasks struct{ Tasks []task.View }
	callJSON(t, "GET", api+"/v1/tasks?type=push", "", nil, http.StatusOK, &tasks)
	if len(tasks.Tasks) != 1 || tasks.Tasks[0].Status != task.Succeeded {
		t.Errorf("push tasks: %+v", tasks.Tasks)
	}
	var set struct{ Version int }
	callJSON(t, "PUT", api+"/v1/settings", `{"scan":{"scope":[{"registry":"`+host+`","namespaces":["team"]}]}}`, map[string]string{"If-Match": `"v0"`}, http.StatusOK, &set)
	callJSON(t, "PUT", api+"/v1/settings", `{}`, map[string]string{"If-Match": `"v0"`}, http.StatusPreconditionFailed, nil)
	var sn task.View
	callJSON(t, "POST", api+"/v1/scan-now", `{}`, nil, http.StatusAccepted, &sn)
	if sn.Counts.Total != 1 {
		t.Fatalf("scan-now: %+v", sn)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	rl2 := &relay{t: t, dir: storeDir, fns: fns, seen: map[string]int{}, invoked: map[string]int{}}
	go rl2.run(ctx2)
	for i := 0; ; i++ {
		callJSON(t, "GET", api+"/v1/tasks/"+sn.ID, "", nil, http.StatusOK, &sn)
		if sn.Status != task.Running {
			break
		}
		if i > 900 {
			t.Fatalf("scan-now task never finished: %+v", sn)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel2()
	if sn.Status != task.Succeeded || sn.Log[0].Status != task.ImageSucceeded {
		t.Errorf("scan-now task: %+v", sn)
	}
	var ts suite.TagStatus
	callJSON(t, "GET", api+"/v1/repositories/team/app/tags/1.0/scan-status", "", nil, http.StatusOK, &ts)
	if ts.Status != "complete" || ts.Digest != digest {
		t.Errorf("scan status: %+v", ts)
	}
}

// callJSON makes an authenticated request, checks the status and decodes
// the answer into v (when not nil).
func callJSON(t *testing.T, method, url, body string, headers map[string]string, want int, v any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bootstrapKey)
	for k, h := range headers {
		req.Header.Set(k, h)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
}
