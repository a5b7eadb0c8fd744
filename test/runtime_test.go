package test

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/task"
)

// fakeKube serves the Kubernetes API shapes a runtime scan reads: Pods
// paged with limit and continue (an expired continue token is 410 Gone
// once), ReplicaSets and Jobs, a 401 for another token and a 403 for a
// namespace the token may not list. It counts the list requests.
type fakeKube struct {
	token   string
	pods    map[string][]map[string]any // namespace → pods
	rs      map[string][]map[string]any
	mu      sync.Mutex
	expired bool // the first continue token has been answered 410
	calls   []string
}

func podJSON(ns, name, owner string, labels map[string]string, containers, inits [][3]string) map[string]any {
	meta := map[string]any{"name": name, "namespace": ns, "labels": labels}
	if owner != "" {
		kind, n, _ := strings.Cut(owner, "/")
		meta["ownerReferences"] = []any{map[string]any{"kind": kind, "name": n, "controller": true, "apiVersion": "apps/v1"}}
	}
	spec := func(cs [][3]string) []any {
		var out []any
		for _, c := range cs {
			out = append(out, map[string]any{"name": c[0], "image": c[1]})
		}
		return out
	}
	status := func(cs [][3]string) []any {
		var out []any
		for _, c := range cs {
			out = append(out, map[string]any{"name": c[0], "image": c[1], "imageID": c[2], "ready": true})
		}
		return out
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta,
		"spec":   map[string]any{"containers": spec(containers), "initContainers": spec(inits)},
		"status": map[string]any{"phase": "Running", "containerStatuses": status(containers), "initContainerStatuses": status(inits)}}
}

func (k *fakeKube) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, r.URL.Path+"?"+r.URL.RawQuery)
	if r.Header.Get("Authorization") != "Bearer "+k.token {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// /api/v1/namespaces/{ns}/pods, /apis/apps/v1/namespaces/{ns}/replicasets, /apis/batch/v1/namespaces/{ns}/jobs
	if len(parts) < 5 || parts[len(parts)-3] != "namespaces" {
		http.NotFound(w, r)
		return
	}
	ns, resource := parts[len(parts)-2], parts[len(parts)-1]
	if ns == "secret" {
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
			"message": `pods is forbidden: User "system:serviceaccount:layerscan:scanner" cannot list resource "pods" in API group "" in the namespace "secret"`})
		return
	}
	var items []map[string]any
	switch resource {
	case "pods":
		items = k.pods[ns]
	case "replicasets":
		items = k.rs[ns]
	case "jobs":
	default:
		http.NotFound(w, r)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 2 {
		limit = 2 // small pages, so that every list is paged
	}
	start := 0
	if c := r.URL.Query().Get("continue"); c != "" {
		if !k.expired {
			k.expired = true
			w.WriteHeader(http.StatusGone)
			json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "status": "Failure", "reason": "Expired", "code": 410,
				"message": "The provided continue parameter is too old to display a consistent list result."})
			return
		}
		start, _ = strconv.Atoi(c)
	}
	end := min(start+limit, len(items))
	cont := ""
	if end < len(items) {
		cont = strconv.Itoa(end)
	}
	json.NewEncoder(w).Encode(map[string]any{"kind": "List", "apiVersion": "v1", "metadata": map[string]any{"continue": cont, "resourceVersion": "1"}, "items": items[start:end]})
}

// TestRuntimeScanOfACluster: a cluster's Pods are listed through a
// loopback API server (TLS with its own CA, a bearer token, paging, an
// expired continue token, a forbidden namespace), and the images they run
// are pulled from a real docker-registry and scanned as one runtime task:
// two Deployments sharing an image make one scan naming both; a Pod whose
// tag moved after it started has its running digest scanned; an init
// container is scanned; a Pod the runtime reported no digest for has its
// tag resolved, and the log says so; an image of an unconfigured registry
// is logged, not pulled.
func TestRuntimeScanOfACluster(t *testing.T) {
	needDockerRegistry(t)
	addr := startDebianRegistry(t)
	app := corpusDebian(t)
	push(t, app, addr+"/team/app:1.0")
	d, _ := app.Digest()
	initDigest := pushTiny(t, addr+"/team/init:1.0", time.Now())
	oldDigest := pushTiny(t, addr+"/team/moved:1.0", time.Now().Add(-48*time.Hour))
	newDigest := pushTiny(t, addr+"/team/moved:1.0", time.Now()) // the tag moved after the Pod started
	pendingDigest := pushTiny(t, addr+"/team/pending:1.0", time.Now().Add(-time.Hour))
	if oldDigest == newDigest {
		t.Fatal("the moved tag names the same digest")
	}
	unknown := "registry.unknown.example/team/thing@sha256:" + strings.Repeat("ab", 32)
	kube := &fakeKube{token: "good-token", pods: map[string][]map[string]any{"prod": {
		podJSON("prod", "web-5d8f-a", "ReplicaSet/web-5d8f", map[string]string{"app": "web"}, [][3]string{{"web", addr + "/team/app:1.0", "docker-pullable://" + addr + "/team/app@" + d.String()}}, nil),
		podJSON("prod", "web-5d8f-b", "ReplicaSet/web-5d8f", map[string]string{"app": "web"}, [][3]string{{"web", addr + "/team/app:1.0", addr + "/team/app@" + d.String()}}, nil),
		podJSON("prod", "api-77c1-a", "ReplicaSet/api-77c1", map[string]string{"app": "api"}, [][3]string{{"api", addr + "/team/app:1.0", addr + "/team/app@" + d.String()}},
			[][3]string{{"migrate", addr + "/team/init:1.0", addr + "/team/init@" + initDigest}}),
		podJSON("prod", "old-0", "StatefulSet/old", nil, [][3]string{{"old", addr + "/team/moved:1.0", addr + "/team/moved@" + oldDigest}}, nil),
		podJSON("prod", "pending-x", "", nil, [][3]string{{"p", addr + "/team/pending:1.0", ""}}, nil),
		podJSON("prod", "thing", "", nil, [][3]string{{"thing", "registry.unknown.example/team/thing:2", unknown}}, nil),
	}}, rs: map[string][]map[string]any{"prod": {
		{"metadata": map[string]any{"name": "web-5d8f", "namespace": "prod", "ownerReferences": []any{map[string]any{"kind": "Deployment", "name": "web", "controller": true}}}},
		{"metadata": map[string]any{"name": "api-77c1", "namespace": "prod", "ownerReferences": []any{map[string]any{"kind": "Deployment", "name": "api", "controller": true}}}},
	}}}
	srv := httptest.NewTLSServer(kube)
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	caJSON, _ := json.Marshal(ca)

	a := newAPIEnv(t)
	a.do(t, "POST", "/v1/registries", `{"id":"r","kind":"generic","hosts":["`+addr+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	t.Setenv("KUBE_TOKEN", "good-token")
	t.Setenv("BAD_TOKEN", "wrong")
	for _, c := range []string{
		`{"id":"prod","server":"` + srv.URL + `","ca":` + string(caJSON) + `,"token":{"env":"KUBE_TOKEN"},"namespaces":["prod","secret"]}`,
		`{"id":"badtoken","server":"` + srv.URL + `","ca":` + string(caJSON) + `,"token":{"env":"BAD_TOKEN"},"namespaces":["prod"]}`,
		`{"id":"noca","server":"` + srv.URL + `","token":{"env":"KUBE_TOKEN"},"namespaces":["prod"]}`,
	} {
		if code, body := a.do(t, "POST", "/v1/clusters", c); code != http.StatusCreated {
			t.Fatalf("POST /v1/clusters: %d %s", code, body)
		}
	}
	if code, body := a.do(t, "POST", "/v1/clusters", `{"id":"plain","server":"http://`+strings.TrimPrefix(srv.URL, "https://")+`","token":{"value":"x"}}`); code != http.StatusBadRequest {
		t.Errorf("a plain-HTTP API server: %d %s", code, body)
	}
	if _, body := a.do(t, "GET", "/v1/clusters", ""); strings.Contains(body, "good-token") {
		t.Errorf("the token shows: %s", body)
	}

	v := a.runTask(t, "/v1/clusters/prod/scan", "")
	if v.Type != task.Runtime || len(v.Errors) != 1 || !strings.Contains(v.Errors[0], "namespace secret") {
		t.Errorf("task %s: type %s, errors %v", v.ID, v.Type, v.Errors)
	}
	byImage := map[string]task.Entry{}
	for _, en := range v.Log {
		byImage[en.Image] = en
	}
	if len(v.Log) != 5 {
		t.Errorf("%d images, want 5 (app, init, moved's running digest, pending, unknown): %+v", len(v.Log), v.Log)
	}
	if en := byImage[addr+"/team/app@"+d.String()]; en.Status != task.ImageSucceeded || strings.Join(en.Workloads, ",") != "prod/Deployment/api,prod/Deployment/web" {
		t.Errorf("the shared image: %+v", en)
	}
	if en := byImage[addr+"/team/init@"+initDigest]; en.Status != task.ImageSucceeded || strings.Join(en.Workloads, ",") != "prod/Deployment/api" {
		t.Errorf("the init container's image: %+v", en)
	}
	if en := byImage[addr+"/team/moved@"+oldDigest]; en.Status != task.ImageSucceeded {
		t.Errorf("the running digest of the moved tag: %+v", en)
	}
	if _, ok := byImage[addr+"/team/moved@"+newDigest]; ok {
		t.Error("the moved tag's new digest was scanned, not the one running")
	}
	if en := byImage[addr+"/team/pending@"+pendingDigest]; en.Status != task.ImageSucceeded || !strings.Contains(en.Note, "reported no digest") {
		t.Errorf("the Pod with no digest: %+v", en)
	}
	if en := byImage[unknown]; en.Status != task.ImageFailed || !strings.Contains(en.Reason, suite.ReasonNoRegistry) {
		t.Errorf("the unconfigured registry's image: %+v", en)
	}
	// The paging went past the expired continue token.
	if !kube.expired {
		t.Error("no continue token was used")
	}

	// Reports and the risk lists name the workloads.
	if r := getReport(t, a, d.String()); !r.Complete {
		t.Errorf("report of the running image: %+v", r.Errors)
	}
	_, body := a.do(t, "GET", "/v1/images/"+d.String()+"/workloads", "")
	if !strings.Contains(body, "prod/Deployment/web") || !strings.Contains(body, "prod/web-5d8f-b (web)") {
		t.Errorf("workloads: %s", body)
	}
	if code, _ := a.do(t, "GET", "/v1/images/not-a-digest/workloads", ""); code != http.StatusBadRequest {
		t.Errorf("workloads of a malformed digest: %d", code)
	}
	var risks struct{ Images int }
	_, body = a.do(t, "GET", "/v1/risks?cluster=prod&workload=Deployment/web", "")
	json.Unmarshal([]byte(body), &risks)
	if risks.Images != 1 {
		t.Errorf("images running in Deployment/web: %d", risks.Images)
	}
	_, body = a.do(t, "GET", "/v1/risks?cluster=prod&namespace=staging", "")
	json.Unmarshal([]byte(body), &risks)
	if risks.Images != 0 {
		t.Errorf("images running in staging: %d", risks.Images)
	}
	_, body = a.do(t, "GET", "/v1/risks/system-vulnerability/CVE-2026-35189?package=openssl", "")
	if !strings.Contains(body, "prod/prod/Deployment/web") {
		t.Errorf("the finding does not name its workloads: %.300s", body)
	}

	// The console's risk lists filter by where the images run.
	b := newBrowser(t)
	w := b.tab()
	w.signIn(a.base, a.key)
	w.waitJS(`document.querySelector("main p.muted").textContent.startsWith("4 image(s)")`)
	w.do(chromedp.SetValue(chromedp.CSS("#f-cluster"), "prod"))
	w.do(chromedp.SetValue(chromedp.CSS("#f-workload"), "Deployment/web"))
	w.do(chromedp.Click(chromedp.CSS(`.filters button[type="submit"]`)))
	w.waitJS(`document.querySelector("main p.muted").textContent.startsWith("1 image(s)")`)
	w.shot("runtime-filter")
	w.open("#/tasks/"+v.ID, "#task-log")
	if txt := evalIn[string](w, `document.getElementById("task-log").textContent`); !strings.Contains(txt, "runs in prod/Deployment/api, prod/Deployment/web") || !strings.Contains(txt, "registry not configured") {
		t.Errorf("the runtime task's log page: %.400s", txt)
	}
	w.shot("runtime-task")

	// The same on one machine: layerscan clusters add, layerscan scan --cluster.
	bin := buildCLI(t)
	dir := t.TempDir()
	copyDB(t, dir)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, []byte(ca), 0o644)
	for _, args := range [][]string{
		{"registries", "add", "--store", dir, "--id", "r", "--kind", "generic", "--host", addr, "--insecure", "--images-per-hour", "-1"},
		{"clusters", "add", "--store", dir, "--id", "prod", "--server", srv.URL, "--ca-file", caFile, "--token-env", "KUBE_TOKEN", "--namespace", "prod", "--workload", "prod/Deployment/web"},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	cmd := exec.Command(bin, "scan", "--cluster", "prod", "--store", dir)
	cmd.Env = append(os.Environ(), "KUBE_TOKEN=good-token")
	out, err := cmd.Output()
	var cv task.View
	json.Unmarshal(out, &cv)
	if err != nil || cv.Type != task.Runtime || len(cv.Log) != 1 || cv.Log[0].Status != task.ImageSucceeded || strings.Join(cv.Log[0].Workloads, ",") != "prod/Deployment/web" {
		t.Errorf("layerscan scan --cluster (only Deployment/web in scope): %v %s", err, out)
	}

	// A refused token and an API server whose certificate is not trusted.
	if code, body := a.do(t, "POST", "/v1/clusters/badtoken/scan", ""); code != http.StatusBadGateway || !strings.Contains(body, "401") {
		t.Errorf("bad token: %d %s", code, body)
	}
	if code, body := a.do(t, "POST", "/v1/clusters/noca/scan", ""); code == http.StatusAccepted || !strings.Contains(body, "certificate") {
		t.Errorf("untrusted API server: %d %s", code, body)
	}
	// A cluster that names the cloud metadata address is never dialled.
	a.do(t, "POST", "/v1/clusters", `{"id":"meta","server":"https://169.254.169.254","token":{"env":"KUBE_TOKEN"}}`)
	if code, body := a.do(t, "POST", "/v1/clusters/meta/scan", ""); code != http.StatusForbidden || !strings.Contains(body, "refused") {
		t.Errorf("a cluster at the metadata address: %d %s", code, body)
	}
}

// TestRuntimeMultiPlatformImage: a kubelet reports the index digest of a
// multi-platform image, while reports are per platform. Each platform's
// report still says where the image runs, and the runtime filters keep it.
func TestRuntimeMultiPlatformImage(t *testing.T) {
	needDockerRegistry(t)
	addr := startDebianRegistry(t)
	ref, _ := name.ParseReference(addr+"/team/multi:1.0", name.Insecure)
	var platforms []string
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img := tinyImage(t, map[string]string{"etc/arch": arch, "root/.ssh/id_rsa": privateKey}, time.Now())
		d, _ := img.Digest()
		platforms = append(platforms, d.String())
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	id, _ := idx.Digest()
	kube := &fakeKube{token: "good-token", pods: map[string][]map[string]any{"prod": {
		podJSON("prod", "multi-0", "StatefulSet/multi", nil, [][3]string{{"multi", addr + "/team/multi:1.0", addr + "/team/multi@" + id.String()}}, nil),
	}}}
	srv := httptest.NewTLSServer(kube)
	defer srv.Close()
	caJSON, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	a := newAPIEnv(t)
	a.do(t, "POST", "/v1/registries", `{"id":"r","kind":"generic","hosts":["`+addr+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	t.Setenv("KUBE_TOKEN", "good-token")
	if code, body := a.do(t, "POST", "/v1/clusters", `{"id":"prod","server":"`+srv.URL+`","ca":`+string(caJSON)+`,"token":{"env":"KUBE_TOKEN"},"namespaces":["prod"]}`); code != http.StatusCreated {
		t.Fatalf("POST /v1/clusters: %d %s", code, body)
	}
	if v := a.runTask(t, "/v1/clusters/prod/scan", ""); len(v.Log) != 1 || v.Log[0].Status != task.ImageSucceeded || len(v.Log[0].ScanIDs) != 2 {
		t.Fatalf("the index, one image of two platforms: %+v", v.Log)
	}
	for _, d := range platforms {
		if _, body := a.do(t, "GET", "/v1/images/"+d+"/workloads", ""); !strings.Contains(body, "prod/StatefulSet/multi") {
			t.Errorf("workloads of the platform image %s: %s", d, body)
		}
	}
	var risks struct{ Images int }
	_, body := a.do(t, "GET", "/v1/risks?cluster=prod&workload=StatefulSet/multi", "")
	json.Unmarshal([]byte(body), &risks)
	if risks.Images != 2 {
		t.Errorf("images running in StatefulSet/multi: %d, want its 2 platforms: %.300s", risks.Images, body)
	}
	_, body = a.do(t, "GET", "/v1/risks?category=sensitive-file", "")
	var list struct {
		Rows []struct{ ID, Package string } `json:"rows"`
	}
	json.Unmarshal([]byte(body), &list)
	if len(list.Rows) == 0 {
		t.Fatalf("no sensitive-file risk: %.300s", body)
	}
	_, body = a.do(t, "GET", "/v1/risks/sensitive-file/"+url.PathEscape(list.Rows[0].ID)+"?package="+url.QueryEscape(list.Rows[0].Package), "")
	if strings.Count(body, "prod/prod/StatefulSet/multi") != 2 {
		t.Errorf("the finding's two images do not both name the workload: %.600s", body)
	}
}
