package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/layerscan/layerscan/bench/gen"
	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/builtin"
)

type benchLayer struct {
	path           string // gzip blob
	digest, diffID string
	size           int64 // uncompressed
}

var (
	bigOnce  sync.Once
	bigLayer benchLayer
	bigErr   error
)

// generatedLayer writes (once per cache dir) a gzip layer of n files with
// total uncompressed content of about total bytes (bench/gen).
func generatedLayer(b *testing.B, n int, total int64) benchLayer {
	bigOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "layerscan-bench")
		p := filepath.Join(dir, fmt.Sprintf("layer-%d-%d.tar.gz", n, total))
		meta := p + ".meta"
		if m, err := os.ReadFile(meta); err == nil {
			if _, err := fmt.Sscan(string(m), &bigLayer.digest, &bigLayer.diffID, &bigLayer.size); err == nil {
				bigLayer.path = p
				return
			}
		}
		blob, err := gen.Files(p, n, total, 1)
		if err != nil {
			bigErr = err
			return
		}
		bigLayer = benchLayer{path: blob.Path, digest: blob.Digest, diffID: blob.DiffID, size: blob.Size}
		os.WriteFile(meta, []byte(fmt.Sprintf("%s %s %d\n", blob.Digest, blob.DiffID, blob.Size)), 0o644)
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigLayer
}

func debianBaseLayer(b *testing.B) benchLayer {
	img := corpusDebian(b)
	ls, _ := img.Layers()
	d, _ := ls[0].Digest()
	diff, _ := ls[0].DiffID()
	// the uncompressed size, so that MB/s compares with the generated layer
	rc, _ := ls[0].Uncompressed()
	size, _ := io.Copy(io.Discard, rc)
	rc.Close()
	return benchLayer{path: debianBlobs(b)[0], digest: d.String(), diffID: diff.String(), size: size}
}

func benchGunzip(b *testing.B, l benchLayer) {
	b.SetBytes(l.size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out, err := exec.Command("sh", "-c", "gzip -dc < "+l.path+" > /dev/null").CombinedOutput(); err != nil {
			b.Fatalf("%v %s", err, out)
		}
	}
}

func benchAnalyze(b *testing.B, l benchLayer, set *analyzer.Set) {
	b.SetBytes(l.size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(l.path)
		if err != nil {
			b.Fatal(err)
		}
		facts, err := set.Analyze(context.Background(), bufio.NewReaderSize(f, 1<<20), l.digest, l.diffID)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			b.ReportMetric(float64(facts.Stats.FilesAnalyzed), "files-analyzed")
		}
	}
}

// The content analyzers (every analyzer: packages, secrets, malware,
// baseline) beside gzip -dc of the same blob: the per-layer cost.
func BenchmarkLayerDebianBaseGunzip(b *testing.B) { benchGunzip(b, debianBaseLayer(b)) }
func BenchmarkLayerDebianBaseWalk(b *testing.B) {
	benchAnalyze(b, debianBaseLayer(b), analyzer.NewSet())
}
func BenchmarkLayerDebianBaseAnalyze(b *testing.B) {
	benchAnalyze(b, debianBaseLayer(b), builtin.Set())
}

const bigFiles, bigBytes = 100000, 1 << 30

func BenchmarkLayer1GiBGunzip(b *testing.B) { benchGunzip(b, generatedLayer(b, bigFiles, bigBytes)) }
func BenchmarkLayer1GiBWalk(b *testing.B) {
	benchAnalyze(b, generatedLayer(b, bigFiles, bigBytes), analyzer.NewSet())
}
func BenchmarkLayer1GiBAnalyze(b *testing.B) {
	benchAnalyze(b, generatedLayer(b, bigFiles, bigBytes), builtin.Set())
}

// BenchmarkScan1GiBPeakRSS scans an image holding the generated 1 GiB layer
// with the CLI in a child process and reports its peak resident memory.
func BenchmarkScan1GiBPeakRSS(b *testing.B) {
	l := generatedLayer(b, bigFiles, bigBytes)
	dir := filepath.Join(os.TempDir(), "layerscan-bench", "tar-1g")
	tarPath := filepath.Join(dir, "image.tar")
	if _, err := os.Stat(tarPath); err != nil {
		os.MkdirAll(dir, 0o755)
		writeDockerSave(b, tarPath, l)
	}
	bin := buildCLI(b)
	var peak int64
	for i := 0; i < b.N; i++ {
		storeDir := b.TempDir()
		cmd := exec.Command(bin, "scan", "--store", storeDir, "--quiet", "--format", "json", "--output", os.DevNull, tarPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v %s", err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > peak {
			peak = ru.Maxrss
		}
	}
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
}

// writeDockerSave writes a one-layer docker-save tarball around a gzip blob.
func writeDockerSave(b *testing.B, dst string, l benchLayer) {
	blob := gen.Blob{Path: l.path, Digest: l.digest, DiffID: l.diffID, Size: l.size}
	if err := gen.DockerSave(dst, "bench.local/big:1", []gen.Blob{blob}, ""); err != nil {
		b.Fatal(err)
	}
}
