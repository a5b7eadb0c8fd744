package test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRuntimeAPI serves the Lambda Runtime API (2018-06-01) for a list of
// events and records each response or error.
type fakeRuntimeAPI struct {
	mu      sync.Mutex
	events  [][]byte
	next    int
	results map[string]string
	errors  map[string]string
}

func (f *fakeRuntimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const base = "/2018-06-01/runtime/invocation/"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == base+"next":
		f.mu.Lock()
		if f.next >= len(f.events) {
			f.mu.Unlock()
			time.Sleep(200 * time.Millisecond) // the real API long-polls
			http.Error(w, "no more events", http.StatusGone)
			return
		}
		id := "req-" + string(rune('a'+f.next))
		ev := f.events[f.next]
		f.next++
		f.mu.Unlock()
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", id)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", "9999999999999")
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-west-2:123456789012:function:layerscan-janitor")
		w.Write(ev)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, base):
		rest := strings.TrimPrefix(r.URL.Path, base)
		id, kind, _ := strings.Cut(rest, "/")
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		if kind == "response" {
			f.results[id] = string(b)
		} else {
			f.errors[id] = string(b)
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// TestLambdaBootstrap builds a function the way the SAM template does
// (-tags lambda.norpc, one binary) and runs it against a Runtime API on
// loopback: a scheduled event is answered, a malformed one is an error.
func TestLambdaBootstrap(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	if out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "../functions/janitor").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sched, _ := os.ReadFile("../events/aws-scheduled.json")
	api := &fakeRuntimeAPI{events: [][]byte{sched, []byte(`{"what":"ever"}`)}, results: map[string]string{}, errors: map[string]string{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	storeDir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"), "LAYERSCAN_STORE=file://"+storeDir)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		api.mu.Lock()
		n := len(api.results) + len(api.errors)
		api.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bootstrap answered %d of 2 events; log:\n%s", n, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(api.results["req-a"]), &out); err != nil {
		t.Errorf("scheduled event response %q: %v", api.results["req-a"], err)
	}
	if e := api.errors["req-b"]; !strings.Contains(e, "unknown event") {
		t.Errorf("malformed event error %q", e)
	}
}
