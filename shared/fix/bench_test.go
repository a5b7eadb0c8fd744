package fix

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/klauspost/compress/gzip"

	"github.com/layerscan/layerscan/shared/aptrepo"
	"github.com/layerscan/layerscan/shared/peakheap"
)

// bigDeb writes a .deb whose one file is size bytes of incompressible
// data, to disk: the benchmark's own memory must not hold it.
func bigDeb(b *testing.B, dir string, size int64) string {
	data := filepath.Join(dir, "data.tar.gz")
	f, _ := os.Create(data)
	z := gzip.NewWriter(f)
	tw := tar.NewWriter(z)
	tw.WriteHeader(&tar.Header{Name: "./usr/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "./usr/lib/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "./usr/lib/libbig.so.1", Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
	rng := rand.NewChaCha8([32]byte{1})
	io.CopyN(tw, rng, size)
	tw.Close()
	z.Close()
	f.Close()
	ctl := gz(tarball_(b, []file{{name: "./control", body: ctl("libbig1", "1.0-2", "")}}))
	out := filepath.Join(dir, "libbig1.deb")
	o, _ := os.Create(out)
	st, _ := os.Stat(data)
	fmt.Fprintf(o, "!<arch>\n%-16s%-12d%-6d%-6d%-8s%-10d`\n2.0\n", "debian-binary", 0, 0, 0, "100644", 4)
	fmt.Fprintf(o, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", "control.tar.gz", 0, 0, 0, "100644", len(ctl))
	o.Write(ctl)
	if len(ctl)%2 == 1 {
		o.Write([]byte("\n"))
	}
	fmt.Fprintf(o, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", "data.tar.gz", 0, 0, 0, "100644", st.Size())
	in, _ := os.Open(data)
	io.Copy(o, in)
	in.Close()
	o.Close()
	os.Remove(data)
	return out
}

// BenchmarkFixLayerPackageSize fixes an image whose one vulnerable
// package is 16 MiB, then 256 MiB: the fix layer is streamed from the
// downloaded .deb to the layer file, so the peak heap must not follow the
// package's size (peak-heap-MiB).
func BenchmarkFixLayerPackageSize(b *testing.B) {
	for _, size := range []int64{16 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("package=%dMiB", size>>20), func(b *testing.B) {
			dir := b.TempDir()
			debPath := bigDeb(b, dir, size)
			key := newKey(b)
			st, _ := os.Stat(debPath)
			h := sha256.New()
			fh, _ := os.Open(debPath)
			io.Copy(h, fh)
			fh.Close()
			pkgs := ctl("libbig1", "1.0-2", "") + fmt.Sprintf("Filename: pool/libbig1.deb\nSize: %d\nSHA256: %s\n", st.Size(), hex.EncodeToString(h.Sum(nil)))
			ps := sha256.Sum256([]byte(pkgs))
			rel := fmt.Sprintf("Suite: test\nCodename: test\nSHA256:\n %s %d main/binary-amd64/Packages\n", hex.EncodeToString(ps[:]), len(pkgs))
			var signed strings.Builder
			w, _ := clearsign.Encode(&signed, key.PrivateKey, nil)
			io.WriteString(w, rel)
			w.Close()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/dists/test/InRelease":
					io.WriteString(w, signed.String())
				case "/dists/test/main/binary-amd64/Packages":
					io.WriteString(w, pkgs)
				case "/pool/libbig1.deb":
					http.ServeFile(w, r, debPath)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			mirrors := map[string]aptrepo.Mirror{"debian": {Suites: []aptrepo.Suite{{URL: srv.URL, Name: "test"}}, KeyringArmored: armored(b, key)}}
			img := imageOf(b, base(statusOf(ctl("libbig1", "1.0-1", "")), file{name: "usr/lib/libbig.so.1", body: "old"}))
			rep := debianReport(vuln("CVE-9", "libbig1", "1.0-1", "1.0-2"))
			var peak uint64
			b.ResetTimer()
			for range b.N {
				p := peakheap.During(func() {
					res, err := (&Fixer{Mirrors: mirrors, TempDir: dir, HTTP: loopback}).Fix(context.Background(), img, rep, Request{})
					if err != nil || res.Image == nil {
						b.Fatalf("%v %+v", err, res)
					}
					res.Close()
				})
				peak = max(peak, p)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(size)/(1<<20), "package-MiB")
		})
	}
}
