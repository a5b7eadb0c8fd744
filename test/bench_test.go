package test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/builtin"
	"github.com/layerscan/layerscan/shared/malware"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/store"
)

// debianBlobs lists the layer blob files of the corpus Debian image.
func debianBlobs(b *testing.B) []string {
	img := corpusDebian(b)
	var out []string
	for _, d := range layerDigests(b, img) {
		out = append(out, filepath.Join(sharedDir(b), "corpus", "images", "debian-bookworm-app", "blobs", "sha256", d[len("sha256:"):]))
	}
	return out
}

// BenchmarkFloorGzip is the physical floor: gzip -dc of every layer blob once.
func BenchmarkFloorGzip(b *testing.B) {
	blobs := debianBlobs(b)
	for i := 0; i < b.N; i++ {
		for _, f := range blobs {
			cmd := exec.Command("sh", "-c", "gzip -dc < "+f+" > /dev/null")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v %s", f, err, out)
			}
		}
	}
}

func benchScan(b *testing.B, warm bool) { benchScanMode(b, warm, false) }

// benchScanMode: warm keeps layer facts between iterations; rematch also
// deletes the stored reports so every iteration matches again.
func benchScanMode(b *testing.B, warm, rematch bool) {
	src := corpusImage(b, "debian-bookworm-app")
	base := b.TempDir()
	copyDB(b, base)
	dir := base
	scanOnce := func() {
		st, _ := store.NewFS(dir)
		d := &pipeline.Steps{Store: st, Analyzers: builtin.Set(), Sources: builtin.Sources()}
		if _, err := d.ScanLocal(context.Background(), scanrecord.Request{Source: src}, 2); err != nil {
			b.Fatal(err)
		}
	}
	if warm {
		scanOnce() // fill the layer cache outside the timed loop
		b.ResetTimer()
	}
	for i := 0; i < b.N; i++ {
		if rematch {
			b.StopTimer()
			os.RemoveAll(filepath.Join(dir, "reports"))
			b.StartTimer()
		}
		if !warm {
			b.StopTimer()
			dir = filepath.Join(base, "cold", strconv.Itoa(i))
			copyDB(b, dir)
			b.StartTimer()
		}
		scanOnce()
	}
}

// BenchmarkColdScan scans the corpus Debian image with an empty layer cache.
func BenchmarkColdScan(b *testing.B) { benchScan(b, false) }

// BenchmarkWarmScan rescans it with every layer's facts and its report
// cached (one untimed scan fills the cache first).
func BenchmarkWarmScan(b *testing.B) { benchScan(b, true) }

// BenchmarkRematchScan rescans with layer facts cached but no stored report,
// as after an advisory DB update: squash and match run again.
func BenchmarkRematchScan(b *testing.B) { benchScanMode(b, true, true) }

// bumped is an analyzer that reads nothing, at a version of the benchmark's
// choosing: adding it at a new version is what bumping one analyzer costs.
type bumped int

func (bumped) Name() string                                                     { return "bumped" }
func (b bumped) Version() int                                                   { return int(b) }
func (bumped) Wants(string, fs.FileMode) bool                                   { return false }
func (bumped) Analyze(context.Context, analyzer.Input) ([]scan.Artifact, error) { return nil, nil }

// BenchmarkAnalyzerBumpScan rescans the corpus Debian image after one
// analyzer's version changed: facts are keyed per analyzer set, so every
// layer is read and analysed again (compare with BenchmarkColdScan).
func BenchmarkAnalyzerBumpScan(b *testing.B) {
	src := corpusImage(b, "debian-bookworm-app")
	dir := b.TempDir()
	copyDB(b, dir)
	sigs := malware.Loaded(malware.Builtin())
	scanWith := func(v int) {
		st, _ := store.NewFS(dir)
		set := analyzer.NewSet(append(builtin.Analyzers(sigs), bumped(v))...)
		d := &pipeline.Steps{Store: st, Analyzers: set, Sources: builtin.Sources()}
		if _, err := d.ScanLocal(context.Background(), scanrecord.Request{Source: src}, 2); err != nil {
			b.Fatal(err)
		}
	}
	scanWith(0) // the cache of the previous version
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		scanWith(i + 1)
	}
}
