package test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"archive/tar"

	"github.com/klauspost/compress/gzip"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/analyzer/builtin"
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

// words make generated files look like text and configs: gzip shrinks them
// about as much as real layers, and the secret prefilter sees real keywords.
var words = strings.Fields(`the of and to in is for on with as config value server port host user name path
file data error info debug log true false null default enable disable timeout retry token password secret key
listen address version release build module package import export function return class public private`)

// generatedLayer writes (once per cache dir) a gzip layer of n files with
// total uncompressed content of about total bytes: a mix of text files and
// incompressible binaries, like an application layer.
func generatedLayer(b *testing.B, n int, total int64) benchLayer {
	bigOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "layerscan-bench")
		os.MkdirAll(dir, 0o755)
		p := filepath.Join(dir, fmt.Sprintf("layer-%d-%d.tar.gz", n, total))
		meta := p + ".meta"
		if m, err := os.ReadFile(meta); err == nil {
			if _, err := fmt.Sscan(string(m), &bigLayer.digest, &bigLayer.diffID, &bigLayer.size); err == nil {
				bigLayer.path = p
				return
			}
		}
		f, err := os.Create(p + ".tmp")
		if err != nil {
			bigErr = err
			return
		}
		defer f.Close()
		blobH, diffH := sha256.New(), sha256.New()
		zw, _ := gzip.NewWriterLevel(io.MultiWriter(f, blobH), gzip.BestSpeed)
		bw := bufio.NewWriterSize(io.MultiWriter(zw, diffH), 1<<20)
		tw := tar.NewWriter(bw)
		rng := rand.New(rand.NewSource(1))
		per := total / int64(n)
		var size int64
		buf := make([]byte, 0, 4*per)
		for i := 0; i < n; i++ {
			sz := per/2 + rng.Int63n(per)
			buf = buf[:0]
			name := fmt.Sprintf("srv/app/d%03d/f%06d.txt", i%500, i)
			if i%10 == 0 { // one file in ten is binary
				name = fmt.Sprintf("srv/app/d%03d/b%06d.bin", i%500, i)
				for int64(len(buf)) < sz {
					buf = append(buf, byte(rng.Intn(256)))
				}
			} else {
				for int64(len(buf)) < sz {
					buf = append(buf, words[rng.Intn(len(words))]...)
					if rng.Intn(12) == 0 {
						buf = append(buf, '\n')
					} else {
						buf = append(buf, ' ')
					}
				}
			}
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(buf)), Typeflag: tar.TypeReg})
			tw.Write(buf)
			size += int64(len(buf))
		}
		tw.Close()
		bw.Flush()
		zw.Close()
		f.Close()
		bigLayer = benchLayer{path: p, digest: "sha256:" + hex.EncodeToString(blobH.Sum(nil)), diffID: "sha256:" + hex.EncodeToString(diffH.Sum(nil)), size: size}
		os.Rename(p+".tmp", p)
		os.WriteFile(meta, []byte(fmt.Sprintf("%s %s %d\n", bigLayer.digest, bigLayer.diffID, bigLayer.size)), 0o644)
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

// writeDockerSave writes a one-layer docker-save tarball around a gzip blob
// (streamed, never held in memory).
func writeDockerSave(b *testing.B, dst string, l benchLayer) {
	cfg := fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"User":"app"},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created_by":"COPY app /srv/app"}]}`, l.diffID)
	sum := sha256.Sum256([]byte(cfg))
	cfgName := hex.EncodeToString(sum[:]) + ".json"
	layerName := strings.TrimPrefix(l.digest, "sha256:") + "/layer.tar.gz"
	manifest := fmt.Sprintf(`[{"Config":"%s","RepoTags":["bench.local/big:1"],"Layers":["%s"]}]`, cfgName, layerName)
	f, err := os.Create(dst + ".tmp")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, r io.Reader, size int64) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(tw, r); err != nil {
			b.Fatal(err)
		}
	}
	add("manifest.json", strings.NewReader(manifest), int64(len(manifest)))
	add(cfgName, strings.NewReader(cfg), int64(len(cfg)))
	blob, err := os.Open(l.path)
	if err != nil {
		b.Fatal(err)
	}
	st, _ := blob.Stat()
	add(layerName, blob, st.Size())
	blob.Close()
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	if err := os.Rename(dst+".tmp", dst); err != nil {
		b.Fatal(err)
	}
}
