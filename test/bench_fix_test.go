package test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/layerscan/layerscan/shared/aptrepo"
	"github.com/layerscan/layerscan/shared/builtin"
	"github.com/layerscan/layerscan/shared/fix"
	"github.com/layerscan/layerscan/shared/peakheap"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
)

// mirrorCache serves the apt mirror's suites from loopback, fetching each
// file from the real mirror once (into a folder): the first fix downloads,
// the timed ones read loopback. The bytes are the mirror's own, so
// InRelease verifies against the real keyring.
type mirrorCache struct {
	roots []string
	dir   string
	mu    sync.Mutex
}

func (c *mirrorCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	n, err := strconv.Atoi(i)
	if err != nil || n < 0 || n >= len(c.roots) || strings.Contains(rest, "..") {
		http.NotFound(w, r)
		return
	}
	p := filepath.Join(c.dir, i, filepath.FromSlash(rest))
	c.mu.Lock()
	if _, err := os.Stat(p); err != nil {
		resp, err := http.Get(strings.TrimSuffix(c.roots[n], "/") + "/" + rest)
		if err != nil || resp.StatusCode != http.StatusOK {
			c.mu.Unlock()
			http.Error(w, "upstream", http.StatusBadGateway)
			return
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		f, _ := os.Create(p)
		io.Copy(f, resp.Body)
		f.Close()
		resp.Body.Close()
	}
	c.mu.Unlock()
	http.ServeFile(w, r, p)
}

// BenchmarkFixCorpusDebian builds the fixed corpus Debian image (every
// fixable system vulnerability: ten packages) from the apt mirror's
// packages served from loopback after a first, untimed fix: the time and
// peak heap of a fix without the download.
func BenchmarkFixCorpusDebian(b *testing.B) {
	m := aptMirror(b)
	cache := &mirrorCache{dir: b.TempDir()}
	srv := httptest.NewServer(cache)
	defer srv.Close()
	local := aptrepo.Mirror{Keyring: m.Keyring}
	for _, s := range m.Suites {
		cache.roots = append(cache.roots, s.URL)
		local.Suites = append(local.Suites, aptrepo.Suite{URL: srv.URL + "/" + strconv.Itoa(len(cache.roots)-1), Name: s.Name})
	}
	dir := b.TempDir()
	copyDB(b, dir)
	img := corpusDebian(b)
	st, err := store.NewFS(dir)
	if err != nil {
		b.Fatal(err)
	}
	d := &pipeline.Steps{Store: st, Analyzers: builtin.Set(), Sources: builtin.Sources()}
	src := source.Ref{Kind: source.KindOCILayout, Location: filepath.Join(sharedDir(b), "corpus", "images", "debian-bookworm-app")}
	reps, err := d.ScanLocal(context.Background(), scanrecord.Request{Source: src}, 2)
	if err != nil {
		b.Fatal(err)
	}
	fx := &fix.Fixer{Mirrors: map[string]aptrepo.Mirror{"debian": local}, TempDir: b.TempDir()}
	run := func(rep *report.Report) int {
		res, err := fx.Fix(context.Background(), img, rep, fix.Request{})
		if err != nil || res.Image == nil {
			b.Fatalf("%v %+v", err, res)
		}
		n := len(res.Upgrades)
		res.Close()
		return n
	}
	run(reps[0]) // downloads
	var peak uint64
	n := 0
	b.ResetTimer()
	for range b.N {
		peak = max(peak, peakheap.During(func() { n = run(reps[0]) }))
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(n), "packages")
}
