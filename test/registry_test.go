package test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/source"
)

// blobCounter counts GET requests per blob digest on their way to a registry.
type blobCounter struct {
	mu   sync.Mutex
	gets map[string]int
}

func (c *blobCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			c.mu.Lock()
			c.gets[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
			c.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (c *blobCounter) count(digests ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, d := range digests {
		n += c.gets[d]
	}
	return n
}

// startDebianRegistry runs Debian's docker-registry (CNCF distribution) on
// loopback; it returns "" when the package is not installed.
func startDebianRegistry(t testing.TB) string { return startDebianRegistryWith(t, "") }

// startDebianRegistryWith runs it with more configuration (auth:, …).
func startDebianRegistryWith(t testing.TB, extra string) string {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return ""
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n%s", filepath.Join(dir, "data"), addr, extra)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("docker-registry did not start on %s", addr)
	return ""
}

// registries yields each real registry the machine can run, each behind a
// counting proxy on loopback.
func realRegistries(t *testing.T) map[string]func(*blobCounter) string {
	out := map[string]func(*blobCounter) string{
		"ggcr": func(c *blobCounter) string {
			s := httptest.NewServer(c.wrap(ggcrregistry.New(ggcrregistry.Logger(nopLogger()))))
			t.Cleanup(s.Close)
			return strings.TrimPrefix(s.URL, "http://")
		},
	}
	if _, err := exec.LookPath("docker-registry"); err == nil {
		out["debian-docker-registry"] = func(c *blobCounter) string {
			addr := startDebianRegistry(t)
			u, _ := url.Parse("http://" + addr)
			s := httptest.NewServer(c.wrap(httputil.NewSingleHostReverseProxy(u)))
			t.Cleanup(s.Close)
			return strings.TrimPrefix(s.URL, "http://")
		}
	} else if os.Getenv("CI") != "" {
		t.Error("docker-registry is not installed: make test installs it")
	}
	return out
}

func corpusDebian(t testing.TB) v1.Image {
	p, err := layout.FromPath(filepath.Join(sharedDir(t), "corpus", "images", "debian-bookworm-app"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := p.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func push(t testing.TB, img v1.Image, ref string) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func layerDigests(t testing.TB, img v1.Image) []string {
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		d, _ := l.Digest()
		out = append(out, d.String())
	}
	return out
}

// TestRegistryRescanFetchesNoCachedLayer pushes the corpus Debian image to a
// real registry, scans it twice, then scans a second image sharing its five
// layers: only the new layer's blob may be fetched again.
func TestRegistryRescanFetchesNoCachedLayer(t *testing.T) {
	base := corpusDebian(t)
	extra := static.NewLayer(tarOf(t, map[string]string{"opt/extra/README": "one more layer\n"}), types.OCIUncompressedLayer)
	derived, err := mutate.AppendLayers(base, extra)
	if err != nil {
		t.Fatal(err)
	}
	baseLayers := layerDigests(t, base)
	allDerived := layerDigests(t, derived)
	newLayer := allDerived[len(allDerived)-1]

	for regName, start := range realRegistries(t) {
		t.Run(regName, func(t *testing.T) {
			c := &blobCounter{gets: map[string]int{}}
			host := start(c)
			push(t, base, host+"/corpus/debian:1.0")
			push(t, derived, host+"/corpus/debian-derived:1.0")
			c.gets = map[string]int{}

			storeDir := t.TempDir()
			copyDB(t, storeDir)
			src := source.Ref{Kind: source.KindRegistry, Location: host + "/corpus/debian:1.0", Insecure: true}
			r1 := scanImage(t, storeDir, src)
			if got := c.count(baseLayers...); got != len(baseLayers) {
				t.Fatalf("cold scan fetched %d layer blobs, want %d", got, len(baseLayers))
			}
			if !r1.Complete || r1.Image.OS == nil || r1.Image.OS.Family != "debian" || len(packageSet(r1)) != 106 {
				t.Fatalf("cold scan: complete=%v os=%+v packages=%d", r1.Complete, r1.Image.OS, len(r1.Packages))
			}
			if want := "sha256:f29e67343e1276e29ce0678a1aade8948db247c64f64515dc0fa8f8310abae19"; r1.Image.Digest != want {
				t.Errorf("digest %s, want the corpus manifest digest %s", r1.Image.Digest, want)
			}

			r2 := scanImage(t, storeDir, src)
			if got := c.count(baseLayers...); got != len(baseLayers) {
				t.Errorf("warm rescan fetched %d more layer blobs, want 0", got-len(baseLayers))
			}
			for _, l := range r2.Layers {
				if l.Status != "cached" {
					t.Errorf("warm rescan: layer %d status %s", l.Index, l.Status)
				}
			}
			if countCat(r2, scan.SystemVulnerability) != countCat(r1, scan.SystemVulnerability) || len(r2.Packages) != len(r1.Packages) {
				t.Errorf("warm rescan differs: %d/%d packages", len(r2.Packages), len(r1.Packages))
			}

			r3 := scanImage(t, storeDir, source.Ref{Kind: source.KindRegistry, Location: host + "/corpus/debian-derived:1.0", Insecure: true})
			if got := c.count(baseLayers...); got != len(baseLayers) {
				t.Errorf("derived image refetched %d shared layer blobs", got-len(baseLayers))
			}
			if got := c.count(newLayer); got != 1 {
				t.Errorf("derived image fetched its new layer %d times, want 1", got)
			}
			if len(r3.Layers) != 6 || r3.Layers[5].Status != "analyzed" || r3.Layers[0].Status != "cached" {
				t.Errorf("derived layers: %+v", r3.Layers)
			}
		})
	}
}

func countCat(r *report.Report, c scan.Category) int {
	n := 0
	for _, f := range r.Findings {
		if f.Category == c {
			n++
		}
	}
	return n
}
