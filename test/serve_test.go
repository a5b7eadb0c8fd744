package test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/suite"
)

// TestServe runs `layerscan serve` (the whole suite in one process on
// loopback), asks for a scan over the API and finds its report; then a
// Harbor webhook for the same image reuses everything.
func TestServe(t *testing.T) {
	host := startDebianRegistryOrGGCR(t)
	push(t, corpusDebian(t), host+"/team/app:1.0")
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	bin := buildCLI(t)
	key := createKey(t, bin, storeDir, "admin")
	port := freePort(t)
	cmd := exec.Command(bin, "serve", "--store", storeDir, "--listen", "127.0.0.1:"+port, "--workers", "2")
	cmd.Env = append(os.Environ(), "LAYERSCAN_INSECURE_REGISTRIES="+host, "LAYERSCAN_STORE=", "LAYERSCAN_WEBHOOK_TOKEN=harbor-auth-header")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("serve log:\n%s", logs.String())
		}
	})
	base := "http://127.0.0.1:" + port
	waitHTTP(t, base+"/healthz")

	post := func(path, body string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if strings.HasPrefix(path, "/v1/events") {
			req.Header.Set("Authorization", "harbor-auth-header") // as Harbor sends its auth header
		} else {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, b := post("/v1/scans", `{"image":"`+host+`/team/app:1.0"}`)
	var out suite.Outcome
	json.Unmarshal(b, &out)
	if code != http.StatusAccepted || len(out.ScanIDs) != 1 {
		t.Fatalf("POST /v1/scans: %d %s", code, b)
	}
	p := waitScan(t, base, key, out.ScanIDs[0])
	if p.Status != "done" || p.Done != 5 {
		t.Fatalf("progress %+v", p)
	}
	resp, err := get(base+"/v1/images/"+p.Digest+"/report", key)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(rb), "GHSA-p6mc-m468-83gw") {
		t.Errorf("GET report: %d %.300s", resp.StatusCode, rb)
	}

	// Bad requests are 4xx with the reason, and write nothing.
	for _, c := range []struct{ path, body string }{
		{"/v1/scans", `{"image":"/etc/passwd"}`},
		{"/v1/scans", `{"nope":1}`},
		{"/v1/events", `{"type":"PUSH_ARTIFACT","event_data":{"resources":[]}}`},
		{"/v1/events", `not json`},
	} {
		if code, b := post(c.path, c.body); code != http.StatusBadRequest {
			t.Errorf("POST %s %s: %d %s", c.path, c.body, code, b)
		}
	}

	// A Harbor webhook for the same image: queued by digest, and the scan
	// reuses the layers' facts.
	harbor := `{"type":"PUSH_ARTIFACT","occur_at":1,"event_data":{"resources":[{"tag":"1.0","resource_url":"` + host + `/team/app:1.0"}],"repository":{"repo_full_name":"team/app"}}}`
	code, b = post("/v1/events/harbor", harbor)
	if code != http.StatusAccepted || !strings.Contains(string(b), "team/app@sha256:f29e6734") {
		t.Errorf("harbor webhook: %d %s", code, b)
	}
	// The same notification again is a replay: nothing queued.
	code, b = post("/v1/events/harbor", harbor)
	if code != http.StatusAccepted || strings.Contains(string(b), `"images"`) || !strings.Contains(string(b), "replay") {
		t.Errorf("replayed harbor webhook: %d %s", code, b)
	}
}

func startDebianRegistryOrGGCR(t *testing.T) string {
	if _, err := exec.LookPath("docker-registry"); err == nil {
		return startDebianRegistry(t)
	}
	c := &blobCounter{}
	return realRegistries(t)["ggcr"](c)
}

func waitHTTP(t *testing.T, url string) {
	for i := 0; i < 400; i++ {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// get is a GET with an API key.
func get(url, key string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	return http.DefaultClient.Do(req)
}

// createKey makes an API key of role in the store with the CLI.
func createKey(t *testing.T, bin, storeDir, role string) string {
	t.Helper()
	out, err := exec.Command(bin, "keys", "create", "--role", role, "--store", storeDir).Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func waitScan(t *testing.T, base, key, id string) scanrecord.Progress {
	var p scanrecord.Progress
	for i := 0; i < 600; i++ {
		resp, err := get(base+"/v1/scans/"+id, key)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if p.Status != "running" && p.Status != "" {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("scan %s never finished: %+v", id, p)
	return p
}
