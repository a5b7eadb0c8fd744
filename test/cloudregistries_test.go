package test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registries/ecr"
	"github.com/layerscan/layerscan/shared/registries/harbor"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
)

// authRegistry runs docker-registry with htpasswd users; it skips the
// test where docker-registry is missing (CI has it).
func authRegistry(t *testing.T, users map[string]string) string {
	t.Helper()
	needDockerRegistry(t)
	var lines []string
	for u, p := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u+":"+string(h))
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	return startDebianRegistryWith(t, fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", file))
}

func pushAs(t *testing.T, ref, user, pass string) {
	t.Helper()
	r, _ := name.ParseReference(ref, name.Insecure)
	if err := remote.Write(r, corpusDebian(t), remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
		t.Fatal(err)
	}
}

// percentEncode is the encoding of Alibaba Cloud's RPC signature.
func percentEncode(s string) string {
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(url.QueryEscape(s))
}

// fakeACR is the ACR EE OpenAPI (2018-12-01) as alibaba-cloud-sdk-go
// calls it: it verifies each call's RPC signature, version and parameters
// and answers with the documented shapes.
type fakeACR struct {
	t              *testing.T
	keyID, secret  string
	user, password string
	expires        time.Duration
	mu             sync.Mutex
	calls          []string // Action and paging of each call
}

func (f *fakeACR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	q := r.Form
	action := q.Get("Action")
	f.mu.Lock()
	f.calls = append(f.calls, action+" "+q.Get("PageNo"))
	f.mu.Unlock()
	fail := func(code int, msg string) {
		f.t.Errorf("ACR %s: %s", action, msg)
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"Code": "InvalidParameter", "Message": msg})
	}
	if q.Get("Version") != "2018-12-01" || q.Get("AccessKeyId") != f.keyID || q.Get("SignatureMethod") != "HMAC-SHA1" || q.Get("InstanceId") != "cri-test" {
		fail(400, "version, key, signature method or instance: "+q.Encode())
		return
	}
	var keys []string
	for k := range q {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, percentEncode(k)+"="+percentEncode(q.Get(k)))
	}
	toSign := r.Method + "&" + percentEncode("/") + "&" + percentEncode(strings.Join(pairs, "&"))
	mac := hmac.New(sha1.New, []byte(f.secret+"&"))
	mac.Write([]byte(toSign))
	if base64.StdEncoding.EncodeToString(mac.Sum(nil)) != q.Get("Signature") {
		fail(400, "signature does not verify")
		return
	}
	page, _ := strconv.Atoi(q.Get("PageNo"))
	answer := map[string]any{"IsSuccess": true, "Code": "success", "RequestId": "req-1"}
	switch action {
	case "GetAuthorizationToken":
		answer["TempUsername"], answer["AuthorizationToken"] = f.user, f.password
		answer["ExpireTime"] = time.Now().Add(f.expires).UnixMilli()
	case "ListNamespace":
		answer["Namespaces"], answer["TotalCount"] = []map[string]any{{"NamespaceName": "team", "NamespaceId": "n-1", "NamespaceStatus": "NORMAL"}}, "1"
	case "ListRepository":
		if q.Get("RepoNamespaceName") != "team" {
			fail(400, "namespace")
			return
		}
		answer["Repositories"], answer["TotalCount"] = []map[string]any{{"RepoId": "crr-app", "RepoName": "app", "RepoNamespaceName": "team", "CreateTime": 1700000000000}}, "1"
	case "ListRepoTag":
		if q.Get("RepoId") != "crr-app" {
			fail(400, "repo id")
			return
		}
		// Three tags in pages of two: TotalCount is a string.
		tags := [][2]string{{"1.0", "1733011200000"}, {"1.1", "1733097600000"}, {"latest", "1733184000000"}}
		var images []map[string]any
		for i := (page - 1) * 2; i < len(tags) && i < page*2; i++ {
			images = append(images, map[string]any{"Tag": tags[i][0], "ImageUpdate": tags[i][1], "Digest": "", "Status": "NORMAL"})
		}
		answer["Images"], answer["TotalCount"], answer["PageNo"], answer["PageSize"] = images, "3", page, 2
	default:
		fail(400, "unknown action")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
}

// TestACREnterpriseEdition: an acr-ee connection logs in with the token
// GetAuthorizationToken hands out (a fake OpenAPI on loopback that checks
// the SDK's signed calls), pulls from a real docker-registry that takes
// exactly those credentials, renews a token about to expire, and lists the
// instance page by page for a periodic scan.
func TestACREnterpriseEdition(t *testing.T) {
	const tempUser, tempPass = "cr_temp_user", "acr-temp-token-7f"
	host := authRegistry(t, map[string]string{tempUser: tempPass})
	for _, tag := range []string{"1.0", "1.1", "latest"} {
		pushAs(t, host+"/team/app:"+tag, tempUser, tempPass)
	}
	fake := &fakeACR{t: t, keyID: "LTAI5tTestKeyId0000", secret: "acr-secret-value", user: tempUser, password: tempPass, expires: time.Minute}
	api := httptest.NewServer(fake)
	defer api.Close()
	a := newAPIEnv(t)
	cloudenv.WithClouds(a.env, nil)
	t.Setenv("ACR_AK_SECRET", fake.secret)
	conn := fmt.Sprintf(`{"id":"ee","kind":"acr-ee","hosts":[%q],"insecure":true,"region":"cn-hangzhou","instanceId":"cri-test","api":%q,"auth":{"method":"cloud","username":%q,"secret":{"env":"ACR_AK_SECRET"}}}`, host, api.URL, fake.keyID)
	if code, body := a.do(t, "POST", "/v1/registries", conn); code != http.StatusCreated {
		t.Fatalf("POST /v1/registries: %d %s", code, body)
	}
	a.scanOK(t, host+"/team/app:1.0")
	// The token expires within the refresh margin: the next pull asks again.
	a.scanOK(t, host+"/team/app:1.1")
	logins := 0
	for _, c := range fake.calls {
		if strings.HasPrefix(c, "GetAuthorizationToken") {
			logins++
		}
	}
	if logins < 2 {
		t.Errorf("%d logins for a token that expires in a minute: %v", logins, fake.calls)
	}

	// Periodic: the instance listed page by page, every tag queued.
	st, _ := store.NewFS(a.store)
	store.PutJSON(context.Background(), st, storekey.Periodic, map[string]any{"targets": []map[string]any{{"registry": host}}})
	out, err := a.env.PeriodicScan(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The cycle's task lists all three tags; digests scanned earlier in
	// the cycle are skipped, not scanned again.
	var res struct {
		Task   string
		Detail struct{ Tasks []task.View }
	}
	json.Unmarshal(out, &res)
	i := slices.IndexFunc(res.Detail.Tasks, func(v task.View) bool { return v.ID == res.Task })
	if i < 0 || res.Detail.Tasks[i].Counts.Total != 3 || res.Detail.Tasks[i].Counts.Failed != 0 {
		t.Errorf("periodic: %s", out)
	}
	pages := strings.Join(fake.calls, ",")
	if !strings.Contains(pages, "ListRepoTag 1") || !strings.Contains(pages, "ListRepoTag 2") || strings.Contains(pages, "ListRepoTag 3") {
		t.Errorf("ListRepoTag paging: %s", pages)
	}
}

// fakeECR answers ECR's JSON 1.1 API as aws-sdk-go-v2 calls it, after
// checking the operation and the SigV4 credential scope.
type fakeECR struct {
	t              *testing.T
	user, password string
	mu             sync.Mutex
	ops            []string
}

func (f *fakeECR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := strings.TrimPrefix(target, "AmazonEC2ContainerRegistry_V20150921.")
	auth := r.Header.Get("Authorization")
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	json.Unmarshal(body, &in)
	f.mu.Lock()
	f.ops = append(f.ops, fmt.Sprintf("%s %v", op, in["nextToken"]))
	f.mu.Unlock()
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIATESTKEY000000000/") || !strings.Contains(auth, "/us-west-2/ecr/aws4_request") || op == target {
		f.t.Errorf("ECR %s: authorization %q", target, auth)
		w.WriteHeader(400)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch op {
	case "GetAuthorizationToken":
		json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
			"authorizationToken": base64.StdEncoding.EncodeToString([]byte(f.user + ":" + f.password)),
			"expiresAt":          float64(time.Now().Add(12 * time.Hour).Unix()),
			"proxyEndpoint":      "https://123456789012.dkr.ecr.us-west-2.amazonaws.com",
		}}})
	case "DescribeRepositories":
		json.NewEncoder(w).Encode(map[string]any{"repositories": []map[string]any{{"repositoryName": "team/app"}}})
	case "DescribeImages":
		if in["nextToken"] == nil {
			json.NewEncoder(w).Encode(map[string]any{"imageDetails": []map[string]any{{"imageTags": []string{"1.0"}, "imageDigest": "sha256:" + strings.Repeat("a", 64), "imagePushedAt": 1733011200}}, "nextToken": "page-2"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"imageDetails": []map[string]any{{"imageTags": []string{"2.0", "latest"}, "imageDigest": "sha256:" + strings.Repeat("b", 64), "imagePushedAt": 1733097600}}})
	default:
		w.WriteHeader(400)
	}
}

// TestECR: an ecr connection logs in with GetAuthorizationToken (a fake
// ECR API checking the SDK's signed calls) and pulls from a real
// docker-registry that takes the token; the registry lists with paging.
func TestECR(t *testing.T) {
	const user, pass = "AWS", "ecr-temp-password-42"
	host := authRegistry(t, map[string]string{user: pass})
	pushAs(t, host+"/team/app:1.0", user, pass)
	fake := &fakeECR{t: t, user: user, password: pass}
	api := httptest.NewServer(fake)
	defer api.Close()
	a := newAPIEnv(t)
	cloudenv.WithClouds(a.env, nil)
	t.Setenv("ECR_SECRET", "ecr-secret-access-key")
	conn := fmt.Sprintf(`{"id":"aws","kind":"ecr","hosts":[%q],"insecure":true,"region":"us-west-2","account":"123456789012","api":%q,"auth":{"method":"cloud","username":"AKIATESTKEY000000000","secret":{"env":"ECR_SECRET"}}}`, host, api.URL)
	if code, body := a.do(t, "POST", "/v1/registries", conn); code != http.StatusCreated {
		t.Fatalf("POST /v1/registries: %d %s", code, body)
	}
	a.scanOK(t, host+"/team/app:1.0")

	c, err := a.env.Registries.Get(context.Background(), "aws")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = ecr.Cloud{Transport: a.env.Guard.Transport(), Key: a.env.Logins.CloudKey}.List(context.Background(), c, registries.Login{}, nil, func(im registries.Image) error {
		got = append(got, im.Repository+":"+im.Tag+"@"+im.Digest[:8]+" "+im.Pushed.UTC().Format("2006-01-02"))
		return nil
	})
	want := "team/app:1.0@sha256:a 2024-12-01,team/app:2.0@sha256:b 2024-12-02,team/app:latest@sha256:b 2024-12-02"
	if err != nil || strings.Join(got, ",") != want {
		t.Errorf("listing: %v %v", got, err)
	}
}

// TestHarborListing: Harbor's v2.0 API (projects → repositories →
// artifacts), paged, with the robot account's basic auth; the repository
// name escaped twice as Harbor wants it.
func TestHarborListing(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		mu.Unlock()
		if u, p, ok := r.BasicAuth(); !ok || u != "robot$scanner" || p != "robot-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		page := r.URL.Query().Get("page")
		switch {
		case r.URL.Path == "/api/v2.0/projects" && page == "1":
			io.WriteString(w, `[{"name":"library"}]`)
		case r.URL.Path == "/api/v2.0/projects":
			io.WriteString(w, `[]`)
		case r.URL.Path == "/api/v2.0/projects/library/repositories" && page == "1":
			io.WriteString(w, `[{"name":"library/team/app"}]`)
		case r.URL.Path == "/api/v2.0/projects/library/repositories":
			io.WriteString(w, `[]`)
		case r.URL.EscapedPath() == "/api/v2.0/projects/library/repositories/team%252Fapp/artifacts" && page == "1":
			io.WriteString(w, `[{"digest":"sha256:`+strings.Repeat("c", 64)+`","push_time":"2024-12-01T08:00:00.000Z","tags":[{"name":"1.0"},{"name":"stable"}]}]`)
		case r.URL.EscapedPath() == "/api/v2.0/projects/library/repositories/team%252Fapp/artifacts":
			io.WriteString(w, `[]`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer api.Close()
	host := strings.TrimPrefix(api.URL, "http://")
	c := &registries.Connection{ID: "h", Kind: registries.Harbor, Hosts: []string{host}, Insecure: true}
	var got []string
	err := harbor.Lister{PageSize: 1}.List(context.Background(), c, registries.Login{Username: "robot$scanner", Password: "robot-secret"}, http.DefaultTransport, func(im registries.Image) error {
		got = append(got, im.Repository+":"+im.Tag+" "+im.Pushed.Format(time.RFC3339))
		return nil
	})
	if err != nil || strings.Join(got, ",") != "library/team/app:1.0 2024-12-01T08:00:00Z,library/team/app:stable 2024-12-01T08:00:00Z" {
		t.Errorf("listing %.500v %v (%d requests)", got, err, len(paths))
	}
	if err := (harbor.Lister{}).List(context.Background(), c, registries.Login{Username: "robot$scanner", Password: "wrong"}, http.DefaultTransport, func(registries.Image) error { return nil }); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a wrong robot secret: %v", err)
	}
}
