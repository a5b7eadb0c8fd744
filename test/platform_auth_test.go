package test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/layerscan/layerscan/shared/source"
)

// multiPlatformIndex builds an index of the corpus Debian image (amd64) and
// the corpus AlmaLinux image (arm64/v8), as a registry would serve a
// multi-platform tag.
func multiPlatformIndex(t *testing.T) v1.ImageIndex {
	alma, err := tarball.ImageFromPath(filepath.Join(sharedDir(t), "corpus", "images", "almalinux-9.0-micro-arm64.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: corpusDebian(t), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: alma, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
}

// TestPlatformSelection scans a real multi-platform tag: the default picks
// linux/amd64, --platform picks another, --all-platforms scans each.
func TestPlatformSelection(t *testing.T) {
	s := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(nopLogger())))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	ref, _ := name.ParseReference(host+"/team/multi:1", name.Insecure)
	if err := remote.WriteIndex(ref, multiPlatformIndex(t)); err != nil {
		t.Fatal(err)
	}
	db := advisoryStore(t)
	src := source.Ref{Kind: source.KindRegistry, Location: host + "/team/multi:1", Insecure: true}
	r := scanImage(t, db, src)
	if r.Image.Platform != "linux/amd64" || r.Image.OS.Family != "debian" {
		t.Errorf("default: %s %+v", r.Image.Platform, r.Image.OS)
	}
	r = scanImage(t, db, src, source.WithPlatform("linux/arm64/v8"))
	if r.Image.Platform != "linux/arm64/v8" || r.Image.OS.Family != "almalinux" || len(packageSet(r)) != 22 {
		t.Errorf("arm64: %s %+v %d packages", r.Image.Platform, r.Image.OS, len(packageSet(r)))
	}
	// The CLI's --all-platforms prints one report per platform.
	bin := buildCLI(t)
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	out, err := exec.Command(bin, "scan", "--store", storeDir, "--insecure", "--all-platforms", "--format", "json", "--quiet", host+"/team/multi:1").Output()
	if err != nil {
		t.Fatalf("--all-platforms: %v", err)
	}
	for _, want := range []string{`"platform": "linux/amd64"`, `"platform": "linux/arm64/v8"`, `"family": "debian"`, `"family": "almalinux"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("--all-platforms output lacks %s", want)
		}
	}
	if _, err := exec.Command(bin, "scan", "--store", storeDir, "--insecure", "--platform", "linux/s390x", "--quiet", host+"/team/multi:1").Output(); err == nil {
		t.Error("a platform the index lacks was not an error")
	}
}

// basicAuth wraps a registry with HTTP basic authentication, as private
// registries require.
func basicAuth(h http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// TestDockerConfigCredentials pulls from a registry that requires a login:
// the CLI finds the credentials in the Docker config ($DOCKER_CONFIG).
func TestDockerConfigCredentials(t *testing.T) {
	s := httptest.NewServer(basicAuth(ggcrregistry.New(ggcrregistry.Logger(nopLogger())), "scanner", "s3cret-pull"))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	ref, _ := name.ParseReference(host+"/team/private:1", name.Insecure)
	img, err := tarball.ImageFromPath(filepath.Join(sharedDir(t), "corpus", "images", "rpm-rhel-8.8-bdb.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authnBasic{"scanner", "s3cret-pull"})); err != nil {
		t.Fatal(err)
	}
	bin := buildCLI(t)
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	run := func(dockerConfig string) ([]byte, error) {
		cmd := exec.Command(bin, "scan", "--store", storeDir, "--insecure", "--format", "json", "--quiet", host+"/team/private:1")
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
		return cmd.Output()
	}
	if _, err := run(t.TempDir()); err == nil {
		t.Error("a private registry was read without credentials")
	}
	cfgDir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("scanner:s3cret-pull"))
	os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600)
	out, err := run(cfgDir)
	if err != nil || !bytes.Contains(out, []byte(`"name": "libuuid"`)) {
		t.Errorf("with the Docker config: %v\n%.300s", err, out)
	}
}

type authnBasic struct{ user, pass string }

func (a *authnBasic) Authorization() (*authn.AuthConfig, error) {
	return &authn.AuthConfig{Username: a.user, Password: a.pass}, nil
}
