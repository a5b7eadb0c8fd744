package test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/netguard"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/suite"
)

// apiEnv is the suite in this process behind a loopback HTTP server, as
// `layerscan serve` runs it.
type apiEnv struct {
	env   *suite.Env
	base  string
	store string
	key   string // an admin key
}

func newAPIEnv(t testing.TB) *apiEnv {
	t.Helper()
	dir := t.TempDir()
	copyDB(t, dir)
	return newAPIEnvAt(t, dir)
}

// newSuiteEnv is suite.NewEnv whose guarded dials reach only loopback:
// were the code under test to let a forbidden address through, the test
// fails on the refusal instead of sending a packet off the machine.
func newSuiteEnv(c suite.Config, st store.Store, d dispatch.Dispatcher, l *log.Logger) *suite.Env {
	e := suite.NewEnv(c, st, d, l)
	e.Guard.Dial = loopbackOnly
	return e
}

// loopbackOnly dials loopback addresses and refuses every other.
func loopbackOnly(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("test dialer: %s is not loopback", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// newAPIEnvOn is the suite's Env on an existing store folder, unserved.
func newAPIEnvOn(t *testing.T, dir string) *suite.Env {
	t.Helper()
	st, err := store.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return newSuiteEnv(suite.Config{Store: dir}, st, nil, nopLogger())
}

func newAPIEnvAt(t testing.TB, dir string) *apiEnv {
	t.Helper()
	st, err := store.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	env := newSuiteEnv(suite.Config{Store: dir, StuckAfter: time.Hour}, st, nil, nopLogger())
	pool, err := env.UseLocal(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(env.LocalHandler())
	t.Cleanup(func() { srv.Close(); cancel(); pool.Wait() })
	_, key, err := env.Keys.Create(ctx, apikeys.Admin, "tests", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &apiEnv{env: env, base: srv.URL, store: dir, key: key}
}

func (a *apiEnv) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return a.doAs(t, a.key, method, path, body)
}

// doAs makes a request with key ("" for none).
func (a *apiEnv) doAs(t *testing.T, key, method, path, body string) (int, string) {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if key != "" {
		h["Authorization"] = "Bearer " + key
	}
	return a.send(t, method, path, body, h)
}

// send makes a request with these headers.
func (a *apiEnv) send(t *testing.T, method, path, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, a.base+path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scanOK asks for a scan and waits for its report.
func (a *apiEnv) scanOK(t *testing.T, image string) {
	t.Helper()
	code, body := a.do(t, "POST", "/v1/scans", `{"image":"`+image+`"}`)
	var out suite.Outcome
	json.Unmarshal([]byte(body), &out)
	if code != http.StatusAccepted || len(out.ScanIDs) != 1 {
		t.Fatalf("POST /v1/scans %s: %d %s", image, code, body)
	}
	if p := waitScan(t, a.base, a.key, out.ScanIDs[0]); p.Status != "done" {
		t.Fatalf("scan of %s: %+v", image, p)
	}
}

// storeHolds reports whether any object in the store contains s.
func storeHolds(t *testing.T, dir, s string) bool {
	found := false
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.Contains(p, "advisories") {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), s) {
				found = true
			}
		}
		return nil
	})
	return found
}

// TestPrivateRegistryThroughConnection: Debian's docker-registry with
// htpasswd basic auth is out of reach until a connection names it with its
// credentials; then it is scanned. Secrets never appear in answers or in
// the store.
func TestPrivateRegistryThroughConnection(t *testing.T) {
	needDockerRegistry(t)
	const user, password = "scanner", "pull-s3cret-9f2a"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600)
	host := startDebianRegistryWith(t, fmt.Sprintf("auth:\n  htpasswd:\n    realm: layerscan-test\n    path: %s\n", htpasswd))
	ref, _ := name.ParseReference(host+"/team/private:1", name.Insecure)
	if err := remote.Write(ref, corpusDebian(t), remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		t.Fatal(err)
	}
	a := newAPIEnv(t)

	// Not configured: refused before any request, nothing written.
	code, body := a.do(t, "POST", "/v1/scans", `{"image":"`+host+`/team/private:1"}`)
	if code != http.StatusForbidden || !strings.Contains(body, "not a configured registry") {
		t.Fatalf("unconfigured registry: %d %s", code, body)
	}
	if keys, _ := os.ReadDir(filepath.Join(a.store, "scans")); len(keys) != 0 {
		t.Errorf("a refused scan wrote %d scans", len(keys))
	}

	t.Setenv("LAB_REGISTRY_PASSWORD", password)
	conn := `{"id":"lab","kind":"generic","hosts":["` + host + `"],"insecure":true,"auth":{"method":"basic","username":"` + user + `","secret":{"env":"LAB_REGISTRY_PASSWORD"}},"labels":{"team":"platform"}}`
	code, body = a.do(t, "POST", "/v1/registries", conn)
	if code != http.StatusCreated || strings.Contains(body, password) {
		t.Fatalf("POST /v1/registries: %d %s", code, body)
	}
	a.scanOK(t, host+"/team/private:1")

	// A secret given as a value is stored encrypted and never answered.
	t.Setenv("LAYERSCAN_SECRET_KEY", "test key for layerscan")
	code, body = a.do(t, "POST", "/v1/registries", `{"id":"lab2","kind":"harbor","hosts":["harbor.example.com"],"auth":{"method":"basic","username":"robot$scan","secret":{"value":"`+password+`"}}}`)
	if code != http.StatusCreated || strings.Contains(body, password) || !strings.Contains(body, `"encrypted": "****"`) {
		t.Fatalf("POST with a secret value: %d %s", code, body)
	}
	for _, path := range []string{"/v1/registries", "/v1/registries/lab2", "/v1/registries/lab"} {
		code, body := a.do(t, "GET", path, "")
		if code != http.StatusOK || strings.Contains(body, password) {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	if storeHolds(t, a.store, password) {
		t.Error("the store holds the registry password in the clear")
	}
	if code, body = a.do(t, "GET", "/v1/registries", ""); code != http.StatusOK {
		t.Fatalf("GET /v1/registries: %d", code)
	}
	for _, id := range []string{`"acr"`, `"defaultAcr"`, `"lab"`, `"lab2"`} {
		if !strings.Contains(body, id) {
			t.Errorf("GET /v1/registries lacks %s: %s", id, body)
		}
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"DELETE", "/v1/registries/acr", "", http.StatusConflict},
		{"DELETE", "/v1/registries/defaultAcr", "", http.StatusConflict},
		{"POST", "/v1/registries", conn, http.StatusConflict},
		{"POST", "/v1/registries", `{"id":"x","kind":"dockerhub","hosts":["a.b"],"auth":{"method":"none"}}`, http.StatusBadRequest},
		{"POST", "/v1/registries", `{"id":"x","kind":"generic","hosts":["10.0.0.1:5000"],"insecure":true,"auth":{"method":"none"}}`, http.StatusBadRequest},
		{"POST", "/v1/registries", `{"id":"x","extra":1}`, http.StatusBadRequest},
		{"GET", "/v1/registries/nope", "", http.StatusNotFound},
		{"PUT", "/v1/registries/lab2", `{"id":"renamed","kind":"harbor","hosts":["h"],"auth":{"method":"none"}}`, http.StatusBadRequest},
		{"DELETE", "/v1/registries/lab2", "", http.StatusNoContent},
		{"GET", "/v1/registries/lab2", "", http.StatusNotFound},
	} {
		if code, body := a.do(t, c.method, c.path, c.body); code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, body, c.want)
		}
	}
	// PUT of what GET answered keeps the secret: the registry still pulls.
	_, body = a.do(t, "GET", "/v1/registries/lab", "")
	if code, b := a.do(t, "PUT", "/v1/registries/lab", body); code != http.StatusOK {
		t.Fatalf("PUT back: %d %s", code, b)
	}
	a.env.Live.Invalidate()
	a.scanOK(t, host+"/team/private:1")

	// Listing by catalog, one repository a page: Link headers are followed.
	for _, repo := range []string{"team/a", "team/b"} {
		r, _ := name.ParseReference(host+"/"+repo+":1", name.Insecure)
		if err := remote.Write(r, corpusDebian(t), remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
			t.Fatal(err)
		}
	}
	repos, err := registry.Repositories(context.Background(), host, true, source.Options{
		Keychain: a.env.Logins.Keychain(a.env.Live, nil), Transport: a.env.Guard.Transport(), PageSize: 1})
	if err != nil || strings.Join(repos, ",") != "team/a,team/b,team/private" {
		t.Errorf("catalog in pages of 1: %v %v", repos, err)
	}
}

// hitCounter is a loopback server that must never be reached.
type hitCounter struct {
	hits atomic.Int32
	url  string
}

func forbiddenTarget(t *testing.T, addr string) *hitCounter {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	h := &hitCounter{url: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "SECRET-BODY of the instance metadata service")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h
}

// TestSSRFIsRefused: as an attacker would try it, against loopback
// listeners that no connection names: a reference to them, a name that
// resolves to them, a configured registry's redirect and token realm
// pointing at them, a Harbor webhook's resource_url. Every one is refused,
// no listener is ever reached and no body is reflected.
func TestSSRFIsRefused(t *testing.T) {
	a := newAPIEnv(t)
	target := forbiddenTarget(t, "127.0.0.1:0")
	other := forbiddenTarget(t, "127.0.0.2:0")
	targetHost := strings.TrimPrefix(target.url, "http://")
	_, port, _ := net.SplitHostPort(targetHost)

	// Registries that configure themselves but answer with the targets.
	realm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+other.url+`/token",service="evil"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer realm.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		http.Redirect(w, r, other.url+"/latest/meta-data/iam", http.StatusFound)
	}))
	defer redirect.Close()
	for id, srv := range map[string]*httptest.Server{"evil-realm": realm, "evil-redirect": redirect} {
		host := strings.TrimPrefix(srv.URL, "http://")
		if code, body := a.do(t, "POST", "/v1/registries", `{"id":"`+id+`","kind":"generic","hosts":["`+host+`"],"insecure":true,"auth":{"method":"none"}}`); code != http.StatusCreated {
			t.Fatalf("%s: %d %s", id, code, body)
		}
	}
	harbor := `{"type":"PUSH_ARTIFACT","occur_at":1,"event_data":{"resources":[{"digest":"sha256:` + strings.Repeat("a", 64) + `","tag":"1","resource_url":"` + targetHost + `/library/x:1"}],"repository":{"repo_full_name":"library/x"}}}`
	for _, c := range []struct{ path, body string }{
		{"/v1/scans", `{"image":"` + targetHost + `/x:1"}`},
		{"/v1/scans", `{"image":"localhost:` + port + `/x:1"}`},
		{"/v1/scans", `{"image":"` + strings.TrimPrefix(realm.URL, "http://") + `/team/app:1"}`},
		{"/v1/scans", `{"image":"` + strings.TrimPrefix(redirect.URL, "http://") + `/team/app:1"}`},
		{"/v1/events", harbor},
	} {
		code, body := a.do(t, "POST", c.path, c.body)
		if code < 400 || code >= 500 || strings.Contains(body, "SECRET-BODY") {
			t.Errorf("%s %s: %d %s, want a 4xx without the target's body", c.path, c.body, code, body)
		}
	}
	if n := target.hits.Load() + other.hits.Load(); n != 0 {
		t.Errorf("the forbidden listeners were reached %d times", n)
	}
}

// TestRegistryWaitsAreBounded: a registry that throttles once is waited
// for; one that accepts connections and never answers fails the scan in
// bounded time, through the API and on the CLI.
func TestRegistryWaitsAreBounded(t *testing.T) {
	a := newAPIEnv(t)
	var throttled sync.Once
	reg := ggcrregistry.New(ggcrregistry.Logger(nopLogger()))
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") {
			throttled.Do(func() { first = true })
		}
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer busy.Close()
	busyHost := strings.TrimPrefix(busy.URL, "http://")
	push(t, corpusDebian(t), busyHost+"/team/app:1")
	throttled = sync.Once{} // the push read no manifest; start counting now
	if code, body := a.do(t, "POST", "/v1/registries", `{"id":"busy","kind":"generic","hosts":["`+busyHost+`"],"insecure":true,"auth":{"method":"none"}}`); code != http.StatusCreated {
		t.Fatal(code, body)
	}
	a.scanOK(t, busyHost+"/team/app:1")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // read, never answer
		}
	}()
	silent := ln.Addr().String()
	if code, body := a.do(t, "POST", "/v1/registries", `{"id":"silent","kind":"generic","hosts":["`+silent+`"],"insecure":true,"auth":{"method":"none"}}`); code != http.StatusCreated {
		t.Fatal(code, body)
	}
	a.env.Guard.Timeouts = netguard.Timeouts{Dial: time.Second, TLSHandshake: time.Second, ResponseHeader: 300 * time.Millisecond, Idle: time.Second, Read: 300 * time.Millisecond}
	start := time.Now()
	code, body := a.do(t, "POST", "/v1/scans", `{"image":"`+silent+`/team/app:1"}`)
	if code < 400 || time.Since(start) > 30*time.Second || !strings.Contains(body, "timeout") {
		t.Errorf("silent registry over the API: %d %s after %s", code, body, time.Since(start))
	}

	bin := buildCLI(t)
	start = time.Now()
	cmd := exec.Command(bin, "scan", "--store", t.TempDir(), "--insecure", "--timeout", "300ms", "--quiet", silent+"/team/app:1")
	out, err := cmd.CombinedOutput()
	if err == nil || time.Since(start) > 30*time.Second || !strings.Contains(string(out), "timeout") {
		t.Errorf("silent registry on the CLI: %v after %s: %s", err, time.Since(start), out)
	}
}

// tokenServer is distribution's token auth as a realm the test serves: it
// takes basic credentials and hands out RS256 JWTs signed by a key whose
// certificate the registry trusts (x5c chain to its rootcertbundle).
type tokenServer struct {
	key            *rsa.PrivateKey
	certDER        []byte
	user, password string
	service        string
	mu             sync.Mutex
	issued         int
}

func newTokenServer(t *testing.T, user, password string) (*tokenServer, string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "layerscan test token issuer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "token.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return &tokenServer{key: key, certDER: der, user: user, password: password, service: "layerscan-test"}, bundle
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.password {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var access []map[string]any
	for _, scope := range r.URL.Query()["scope"] { // repository:team/app:pull,push
		parts := strings.Split(scope, ":")
		if len(parts) == 3 {
			access = append(access, map[string]any{"type": parts[0], "name": parts[1], "actions": strings.Split(parts[2], ",")})
		}
	}
	now := time.Now()
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	head := enc(map[string]any{"typ": "JWT", "alg": "RS256", "x5c": []string{base64.StdEncoding.EncodeToString(s.certDER)}})
	claims := enc(map[string]any{"iss": "layerscan-test-issuer", "sub": s.user, "aud": s.service, "exp": now.Add(5 * time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(), "jti": fmt.Sprint(now.UnixNano()), "access": access})
	sum := sha256.Sum256([]byte(head + "." + claims))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		w.WriteHeader(500)
		return
	}
	s.mu.Lock()
	s.issued++
	s.mu.Unlock()
	tok := head + "." + claims + "." + base64.RawURLEncoding.EncodeToString(sig)
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": now.Format(time.RFC3339)})
}

// TestTokenAuthRegistry: Debian's docker-registry with token auth, whose
// realm (served by the test, named as the connection's extra host) turns
// the connection's basic credentials into bearer tokens, as Quay, GitLab
// and Harbor registries do.
func TestTokenAuthRegistry(t *testing.T) {
	needDockerRegistry(t)
	const user, password = "gitlab-deploy-token", "gldt-test-deploy-secret"
	ts, bundle := newTokenServer(t, user, password)
	realm := httptest.NewServer(ts)
	defer realm.Close()
	host := startDebianRegistryWith(t, fmt.Sprintf("auth:\n  token:\n    realm: %s/token\n    service: layerscan-test\n    issuer: layerscan-test-issuer\n    rootcertbundle: %s\n", realm.URL, bundle))
	pushAs(t, host+"/team/app:1", user, password)
	a := newAPIEnv(t)
	t.Setenv("DEPLOY_TOKEN", password)
	conn := fmt.Sprintf(`{"id":"gl","kind":"gitlab","hosts":[%q],"extraHosts":[%q],"insecure":true,"auth":{"method":"basic","username":%q,"secret":{"env":"DEPLOY_TOKEN"}}}`,
		host, strings.TrimPrefix(realm.URL, "http://"), user)
	if code, body := a.do(t, "POST", "/v1/registries", conn); code != http.StatusCreated {
		t.Fatalf("POST /v1/registries: %d %s", code, body)
	}
	before := ts.issued
	a.scanOK(t, host+"/team/app:1")
	if ts.issued == before {
		t.Error("the scan pulled without a token from the realm")
	}
}

// needDockerRegistry skips a test where Debian's docker-registry is not
// installed; under CI, which installs it, that is a failure.
func needDockerRegistry(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("docker-registry"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-registry is not installed: make test installs it")
		}
		t.Skip("docker-registry is not installed")
	}
}
