package test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/apikeys"
)

// TestAPIKeysAndRoles: every route but /healthz needs a key; each role
// may do what it says and no more; a key limited to repositories stays
// within them; keys are stored hashed, shown once, revocable, and every
// change is in the audit log.
func TestAPIKeysAndRoles(t *testing.T) {
	a := newAPIEnv(t)
	host := startDebianRegistryOrGGCR(t)
	push(t, corpusDebian(t), host+"/team/app:1")
	push(t, corpusDebian(t), host+"/other/app:1")
	if code, body := a.do(t, "POST", "/v1/registries", `{"id":"lab","kind":"generic","hosts":["`+host+`"],"insecure":true,"auth":{"method":"none"}}`); code != http.StatusCreated {
		t.Fatal(code, body)
	}
	digest := strings.Repeat("a", 64)
	routes := []struct{ method, path, body string }{
		{"POST", "/v1/scans", `{"image":"` + host + `/team/app:1"}`},
		{"GET", "/v1/scans/20261201T000000Z-abcdef", ""},
		{"GET", "/v1/images/sha256:" + digest + "/report", ""},
		{"GET", "/v1/registries", ""},
		{"POST", "/v1/registries", `{}`},
		{"GET", "/v1/registries/lab", ""},
		{"PUT", "/v1/registries/lab", `{}`},
		{"DELETE", "/v1/registries/lab", ""},
		{"GET", "/v1/keys", ""},
		{"POST", "/v1/keys", `{"role":"admin"}`},
		{"DELETE", "/v1/keys/0123456789ab", ""},
		{"GET", "/v1/audit", ""},
	}
	for _, key := range []string{"", "lsk_0123456789ab_" + strings.Repeat("0", 64), "garbage", a.key + "x"} {
		for _, r := range routes {
			if code, body := a.doAs(t, key, r.method, r.path, r.body); code != http.StatusUnauthorized {
				t.Errorf("%s %s with key %.20q: %d %s, want 401", r.method, r.path, key, code, body)
			}
		}
	}
	if code, _ := a.doAs(t, "", "GET", "/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}

	keyOf := func(role string, repos ...string) string {
		body := `{"role":"` + role + `","name":"` + role + ` test"`
		if len(repos) > 0 {
			b, _ := json.Marshal(repos)
			body += `,"repositories":` + string(b)
		}
		code, out := a.do(t, "POST", "/v1/keys", body+"}")
		var k struct{ Key, ID string }
		json.Unmarshal([]byte(out), &k)
		if code != http.StatusCreated || !strings.HasPrefix(k.Key, "lsk_") {
			t.Fatalf("POST /v1/keys %s: %d %s", role, code, out)
		}
		return k.Key
	}
	viewer, operator, ci := keyOf("viewer"), keyOf("operator"), keyOf("ci")
	limited := keyOf("ci", host+"/team/*")
	scan := `{"image":"` + host + `/team/app:1"}`
	for _, c := range []struct {
		who, key, method, path, body string
		want                         int
	}{
		{"viewer", viewer, "POST", "/v1/scans", scan, http.StatusForbidden},
		{"viewer", viewer, "GET", "/v1/registries", "", http.StatusOK},
		{"viewer", viewer, "POST", "/v1/registries", `{}`, http.StatusForbidden},
		{"viewer", viewer, "GET", "/v1/keys", "", http.StatusForbidden},
		{"operator", operator, "POST", "/v1/scans", scan, http.StatusAccepted},
		{"operator", operator, "DELETE", "/v1/registries/lab", "", http.StatusForbidden},
		{"operator", operator, "GET", "/v1/audit", "", http.StatusForbidden},
		{"ci", ci, "POST", "/v1/scans", scan, http.StatusAccepted},
		{"ci", ci, "GET", "/v1/registries", "", http.StatusForbidden},
		{"limited ci", limited, "POST", "/v1/scans", scan, http.StatusAccepted},
		{"limited ci", limited, "POST", "/v1/scans", `{"image":"` + host + `/other/app:1"}`, http.StatusForbidden},
		{"admin", a.key, "POST", "/v1/keys", `{"role":"root"}`, http.StatusBadRequest},
	} {
		if code, body := a.doAs(t, c.key, c.method, c.path, c.body); code != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.who, c.method, c.path, code, body, c.want)
		}
	}
	// A limited key reads only its repositories' scans.
	code, body := a.doAs(t, operator, "POST", "/v1/scans", `{"image":"`+host+`/other/app:1"}`)
	var out struct {
		ScanIDs []string
		Task    string
	}
	json.Unmarshal([]byte(body), &out)
	if code != http.StatusAccepted || len(out.ScanIDs) != 1 {
		t.Fatal(code, body)
	}
	waitScan(t, a.base, operator, out.ScanIDs[0])
	if code, _ := a.doAs(t, limited, "GET", "/v1/scans/"+out.ScanIDs[0], ""); code != http.StatusForbidden {
		t.Errorf("a limited key read another repository's scan: %d", code)
	}
	// ... and only the tasks, and task log entries, of its repositories.
	limitedViewer := keyOf("viewer", host+"/team/*")
	if code, body := a.doAs(t, limitedViewer, "GET", "/v1/tasks/"+out.Task, ""); code != http.StatusNotFound {
		t.Errorf("a limited key read another repository's task: %d %s", code, body)
	}
	if _, body := a.doAs(t, limitedViewer, "GET", "/v1/tasks", ""); strings.Contains(body, out.Task) || !strings.Contains(body, `"tasks"`) {
		t.Errorf("a limited key lists another repository's task: %s", body)
	}
	if _, body := a.do(t, "GET", "/v1/tasks", ""); !strings.Contains(body, out.Task) {
		t.Errorf("the admin does not see the task: %s", body)
	}

	// Listed without hashes; stored hashed; revoked keys fail at once.
	_, list := a.do(t, "GET", "/v1/keys", "")
	for _, k := range []string{viewer, operator, ci, limited} {
		if strings.Contains(list, k) || storeHolds(t, a.store, k) {
			t.Errorf("key %.12s… is listed or stored in the clear", k)
		}
	}
	if strings.Contains(list, "sha256") {
		t.Errorf("GET /v1/keys shows hashes: %s", list)
	}
	id := strings.Split(viewer, "_")[1]
	if code, _ := a.do(t, "DELETE", "/v1/keys/"+id, ""); code != http.StatusNoContent {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := a.doAs(t, viewer, "GET", "/v1/registries", ""); code != http.StatusUnauthorized {
		t.Errorf("a revoked key: %d", code)
	}
	_, log := a.do(t, "GET", "/v1/audit", "")
	for _, action := range []string{"registry.create", "key.create", "key.revoke"} {
		if !strings.Contains(log, action) {
			t.Errorf("the audit log lacks %s: %s", action, log)
		}
	}
}

// TestServeRefusesOpenAPI: `layerscan serve` will not listen beyond
// loopback while no API key exists (it refuses before listening).
func TestServeRefusesOpenAPI(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "serve", "--store", dir, "--listen", "0.0.0.0:"+freePort(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no API key exists") {
		t.Errorf("serve beyond loopback without keys: %v %s", err, out)
	}
	// With a key created by the CLI, the store has one that authenticates.
	key := createKey(t, bin, dir, "admin")
	if !strings.HasPrefix(key, "lsk_") {
		t.Fatalf("keys create printed %q", key)
	}
	st := newAPIEnvOn(t, dir)
	if k, err := st.Keys.Authenticate(context.Background(), "Bearer "+key); err != nil || k.Role != apikeys.Admin {
		t.Errorf("the CLI's key: %+v %v", k, err)
	}
	if out, err := exec.Command(bin, "keys", "create", "--role", "superuser", "--store", dir).CombinedOutput(); err == nil {
		t.Errorf("an unknown role was accepted: %s", out)
	}
}
