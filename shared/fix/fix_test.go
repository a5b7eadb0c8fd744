package fix

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/layerscan/layerscan/shared/aptrepo"
	"github.com/layerscan/layerscan/shared/deb"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
)

// file is one entry of a test tarball: a regular file, a directory
// (name ending in /) or a symlink (link set).
type file struct {
	name, body, link string
	mode             int64
}

func tarball_(t testing.TB, files []file) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: time.Unix(1700000000, 0)}
		switch {
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		case strings.HasSuffix(f.name, "/"):
			h.Typeflag = tar.TypeDir
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, f.body)
	}
	tw.Close()
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	z := gzip.NewWriter(&out)
	z.Write(b)
	z.Close()
	return out.Bytes()
}

// debFile builds a .deb: ar of debian-binary, control.tar.gz, data.tar.gz.
func debFile(t testing.TB, control string, data []file, conffiles ...string) []byte {
	var sums strings.Builder
	for _, f := range data {
		if f.link == "" && !strings.HasSuffix(f.name, "/") {
			s := md5.Sum([]byte(f.body))
			fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), strings.TrimPrefix(f.name, "./"))
		}
	}
	ctl := []file{{name: "./control", body: control}, {name: "./md5sums", body: sums.String()}, {name: "./postinst", body: "#!/bin/sh\nldconfig\n", mode: 0o755}}
	if len(conffiles) > 0 {
		ctl = append(ctl, file{name: "./conffiles", body: strings.Join(conffiles, "\n") + "\n"})
	}
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	member := func(name string, body []byte) {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 1700000000, 0, 0, "100644", len(body))
		b.Write(body)
		if len(body)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", gz(tarball_(t, ctl)))
	member("data.tar.gz", gz(tarball_(t, data)))
	return b.Bytes()
}

// testRepo is a loopback Debian repository: suite "test", main, amd64.
type testRepo struct {
	files map[string][]byte
	key   *openpgp.Entity
	// signer signs InRelease (key unless a test swaps it).
	signer *openpgp.Entity
	// corrupt serves these pool files with a changed byte.
	corrupt map[string]bool
	srv     *httptest.Server
	mu      sync.Mutex
	hits    map[string]int
}

func newKey(t testing.TB) *openpgp.Entity {
	e, err := openpgp.NewEntity("layerscan test archive", "", "archive@example.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func armored(t testing.TB, e *openpgp.Entity) string {
	var b bytes.Buffer
	w, _ := armor.Encode(&b, openpgp.PublicKeyType, nil)
	e.Serialize(w)
	w.Close()
	return b.String()
}

func newRepo(t testing.TB) *testRepo {
	r := &testRepo{files: map[string][]byte{}, corrupt: map[string]bool{}, hits: map[string]int{}}
	r.key = newKey(t)
	r.signer = r.key
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits[strings.TrimPrefix(req.URL.Path, "/")]++
		r.mu.Unlock()
		b, ok := r.files[strings.TrimPrefix(req.URL.Path, "/")]
		if !ok {
			http.NotFound(w, req)
			return
		}
		if r.corrupt[strings.TrimPrefix(req.URL.Path, "/")] {
			b = append([]byte{}, b...)
			b[len(b)-1] ^= 0xff
		}
		w.Write(b)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// publish writes the Packages index of debs and the signed InRelease.
func (r *testRepo) publish(t testing.TB, debs map[string][]byte) {
	names := make([]string, 0, len(debs))
	for n := range debs {
		names = append(names, n)
	}
	sort.Strings(names)
	var idx strings.Builder
	for _, n := range names {
		b := debs[n]
		fn := "pool/main/" + n + ".deb"
		r.files[fn] = b
		ctl, err := readControlOf(b)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&idx, "%sFilename: %s\nSize: %d\nSHA256: %s\n\n", ctl, fn, len(b), hex.EncodeToString(sum[:]))
	}
	pk := []byte(idx.String())
	r.files["dists/test/main/binary-amd64/Packages"] = pk
	sum := sha256.Sum256(pk)
	release := fmt.Sprintf("Origin: test\nSuite: test\nCodename: test\nDate: %s\nValid-Until: %s\nArchitectures: amd64\nComponents: main\nSHA256:\n %s %d main/binary-amd64/Packages\n",
		time.Now().UTC().Format(time.RFC1123), time.Now().Add(24*time.Hour).UTC().Format(time.RFC1123), hex.EncodeToString(sum[:]), len(pk))
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, r.signer.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, release)
	w.Close()
	r.files["dists/test/InRelease"] = signed.Bytes()
}

func readControlOf(b []byte) ([]byte, error) {
	pkg, err := deb.Read(bytes.NewReader(b), func(*deb.Package, *tar.Reader) error { return nil })
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	pkg.Control.WriteTo(&out)
	return out.Bytes(), nil
}

func (r *testRepo) mirror(t testing.TB) map[string]aptrepo.Mirror {
	return map[string]aptrepo.Mirror{"debian": {Suites: []aptrepo.Suite{{URL: r.srv.URL, Name: "{codename}"}}, KeyringArmored: armored(t, r.key)}}
}

func ctl(name, version, depends string) string {
	s := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: test <t@example.test>\nInstalled-Size: 1\n", name, version)
	if depends != "" {
		s += "Depends: " + depends + "\n"
	}
	return s + "Description: test package\n"
}

func statusOf(pkgs ...string) string {
	var b strings.Builder
	for _, p := range pkgs {
		lines := strings.SplitN(p, "\n", 2)
		b.WriteString(lines[0] + "\nStatus: install ok installed\n" + lines[1] + "\n")
	}
	return b.String()
}

func imageOf(t testing.TB, layers ...[]file) v1.Image {
	img := empty.Image
	for _, l := range layers {
		b := tarball_(t, l)
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	img, _ = mutate.ConfigFile(img, cfg)
	return img
}

func vuln(id, pkg, version, fixed string) scan.Finding {
	return scan.Finding{Category: scan.SystemVulnerability, ID: id, Package: &scan.PackageRef{Name: pkg, Version: version, Type: "deb"}, FixedVersion: fixed, Status: "fixed"}
}

func debianReport(fs ...scan.Finding) *report.Report {
	return &report.Report{Image: report.Image{OS: &scan.OS{Family: "debian", Codename: "test"}}, Findings: fs}
}

// layerFiles reads the fix layer (the image's last) into name → content,
// symlinks as "-> target", directories as "dir".
func layerFiles(t testing.TB, img v1.Image) map[string]string {
	ls, _ := img.Layers()
	rc, err := ls[len(ls)-1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			out[h.Name] = "dir"
		case tar.TypeSymlink:
			out[h.Name] = "-> " + h.Linkname
		default:
			b, _ := io.ReadAll(tr)
			out[h.Name] = string(b)
		}
	}
}

func base(status string, extra ...file) []file {
	fs := []file{
		{name: "usr/"}, {name: "usr/lib/"}, {name: "lib", link: "usr/lib"}, {name: "etc/"},
		{name: "etc/os-release", body: "ID=debian\nVERSION_CODENAME=test\n"},
		{name: "var/"}, {name: "var/lib/"}, {name: "var/lib/dpkg/"}, {name: "var/lib/dpkg/info/"},
	}
	if status != "" {
		fs = append(fs, file{name: "var/lib/dpkg/status", body: status})
	}
	return append(fs, extra...)
}

func TestFix(t *testing.T) {
	ctx := context.Background()
	libfoo1 := ctl("libfoo1", "1.0-1", "libbar (>= 1.0)")
	libbar := ctl("libbar", "1.0-1", "")
	tool := ctl("tool", "1.0-1", "")
	conf := ctl("confpkg", "1.0-1", "") + "Conffiles:\n /etc/conf.d/app.conf " + md5hex("original\n") + "\n"
	image := imageOf(t, base(statusOf(libfoo1, libbar, tool, conf),
		file{name: "usr/lib/libfoo.so.1", body: "foo 1.0-1"},
		file{name: "usr/lib/libfoo-old.so.1", body: "dropped in 1.0-2"},
		file{name: "var/lib/dpkg/info/libfoo1.list", body: "/.\n/lib\n/lib/libfoo.so.1\n/lib/libfoo-old.so.1\n"},
		file{name: "etc/conf.d/"}, file{name: "etc/conf.d/app.conf", body: "changed by the image\n"},
	))
	newDebs := func() map[string][]byte {
		return map[string][]byte{
			"libfoo1_1.0-2": debFile(t, ctl("libfoo1", "1.0-2", "libbar (>= 2.0-1)"), []file{{name: "./"}, {name: "./lib/"}, {name: "./lib/libfoo.so.1", body: "foo 1.0-2"}}),
			"libbar_2.0-1":  debFile(t, ctl("libbar", "2.0-1", ""), []file{{name: "./usr/"}, {name: "./usr/lib/"}, {name: "./usr/lib/libbar.so.2", body: "bar 2.0"}}),
			"tool_1.0-2":    debFile(t, ctl("tool", "1.0-2", "libnew (>= 5)"), []file{{name: "./usr/"}, {name: "./usr/bin/"}, {name: "./usr/bin/tool", body: "tool 1.0-2"}}),
			"confpkg_1.0-2": debFile(t, ctl("confpkg", "1.0-2", ""), []file{{name: "./etc/"}, {name: "./etc/conf.d/"}, {name: "./etc/conf.d/app.conf", body: "new default\n"}}, "/etc/conf.d/app.conf"),
		}
	}
	rep := debianReport(
		vuln("CVE-1", "libfoo1", "1.0-1", "1.0-2"),
		vuln("CVE-2", "tool", "1.0-1", "1.0-2"),
		vuln("CVE-3", "confpkg", "1.0-1", "1.0-2"),
		vuln("CVE-4", "libbar", "1.0-1", "9.0-1"),
	)

	t.Run("upgrades, dependencies and refusals", func(t *testing.T) {
		repo := newRepo(t)
		repo.publish(t, newDebs())
		res, err := (&Fixer{Mirrors: repo.mirror(t), HTTP: loopback}).Fix(ctx, image, rep, Request{})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		got := map[string]Upgrade{}
		for _, u := range res.Upgrades {
			got[u.Package] = u
		}
		if u := got["libfoo1"]; u.To != "1.0-2" || u.From != "1.0-1" || !strings.Contains(u.Origin, "test/main") {
			t.Errorf("libfoo1: %+v", u)
		}
		if u := got["libbar"]; u.To != "2.0-1" || u.PulledBy != "libfoo1" || len(u.Findings) != 0 {
			t.Errorf("libbar is pulled in by libfoo1: %+v", u)
		}
		refused := map[string]string{}
		for _, r := range res.Refused {
			refused[r.Package] = r.Reason
		}
		if !strings.Contains(refused["tool"], "needs libnew (>= 5)") {
			t.Errorf("tool: %q", refused["tool"])
		}
		// libnew was looked for in a second read of the index, from the copy
		// the first one verified
		if n := repo.hits["dists/test/main/binary-amd64/Packages"]; n != 1 {
			t.Errorf("the index was downloaded %d times", n)
		}
		if !strings.Contains(refused["libbar"], "no version in the repositories fixes it") {
			t.Errorf("libbar (needs 9.0-1): %q", refused["libbar"])
		}
		files := layerFiles(t, res.Image)
		if files["usr/lib/libfoo.so.1"] != "foo 1.0-2" {
			t.Errorf("libfoo.so.1 is not written through the /lib symlink: %v", keys(files))
		}
		if _, ok := files["lib"]; ok {
			t.Error("the fix layer replaces the /lib symlink")
		}
		if _, ok := files["usr/lib/.wh.libfoo-old.so.1"]; !ok {
			t.Errorf("the file the new version dropped is not removed: %v", keys(files))
		}
		if files["etc/conf.d/app.conf.dpkg-dist"] != "new default\n" {
			t.Errorf("the changed conffile is overwritten: %v", keys(files))
		}
		if _, ok := files["etc/conf.d/app.conf"]; ok {
			t.Error("the image's changed conffile is replaced")
		}
		st := files["var/lib/dpkg/status"]
		for _, want := range []string{"Package: libfoo1\nStatus: install ok installed\n", "Version: 1.0-2", "Package: tool\nStatus: install ok installed\n", "Version: 2.0-1", "/etc/conf.d/app.conf " + md5hex("new default\n")} {
			if !strings.Contains(st, want) {
				t.Errorf("status lacks %q:\n%s", want, st)
			}
		}
		if !strings.Contains(files["var/lib/dpkg/info/libfoo1.list"], "/lib/libfoo.so.1") || files["var/lib/dpkg/info/libfoo1.postinst"] == "" {
			t.Errorf("info files: %v", keys(files))
		}
		if !strings.Contains(strings.Join(res.Notes, "\n"), "ldconfig") {
			t.Errorf("notes do not say ldconfig was not run: %v", res.Notes)
		}
		cfg, _ := res.Image.ConfigFile()
		if h := cfg.History[len(cfg.History)-1].CreatedBy; !strings.Contains(h, "libfoo1 1.0-1→1.0-2") {
			t.Errorf("history: %q", h)
		}
	})

	t.Run("a .deb whose checksum does not match is refused", func(t *testing.T) {
		repo := newRepo(t)
		repo.publish(t, newDebs())
		repo.corrupt["pool/main/libbar_2.0-1.deb"] = true
		res, err := (&Fixer{Mirrors: repo.mirror(t), HTTP: loopback}).Fix(ctx, image, rep, Request{Findings: []string{"CVE-1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		if res.Image != nil || len(res.Refused) != 1 || !strings.Contains(res.Refused[0].Reason, "SHA256") {
			t.Errorf("refused %+v, image %v", res.Refused, res.Image != nil)
		}
	})

	t.Run("a repository whose signature does not verify is refused", func(t *testing.T) {
		repo := newRepo(t)
		repo.signer = newKey(t)
		repo.publish(t, newDebs())
		_, err := (&Fixer{Mirrors: repo.mirror(t), HTTP: loopback}).Fix(ctx, image, rep, Request{})
		if !errors.Is(err, aptrepo.ErrUnverified) {
			t.Errorf("fix over a badly signed repository: %v", err)
		}
	})

	t.Run("distroless status.d", func(t *testing.T) {
		repo := newRepo(t)
		repo.publish(t, newDebs())
		img := imageOf(t, base("",
			file{name: "var/lib/dpkg/status.d/"}, file{name: "var/lib/dpkg/status.d/libfoo1", body: libfoo1},
			file{name: "var/lib/dpkg/status.d/libbar", body: libbar}, file{name: "usr/lib/libfoo.so.1", body: "foo 1.0-1"}))
		res, err := (&Fixer{Mirrors: repo.mirror(t), HTTP: loopback}).Fix(ctx, img, rep, Request{Findings: []string{"CVE-1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		files := layerFiles(t, res.Image)
		if s := files["var/lib/dpkg/status.d/libfoo1"]; !strings.Contains(s, "Version: 1.0-2") || strings.Contains(s, "Status:") {
			t.Errorf("status.d/libfoo1: %q", s)
		}
		if !strings.Contains(files["var/lib/dpkg/status.d/libbar"], "Version: 2.0-1") || files["var/lib/dpkg/status.d/libfoo1.md5sums"] == "" {
			t.Errorf("status.d: %v", keys(files))
		}
		if _, ok := files["var/lib/dpkg/status"]; ok {
			t.Error("a distroless image got a status file")
		}
	})

	t.Run("other families get commands", func(t *testing.T) {
		r := &report.Report{Image: report.Image{OS: &scan.OS{Family: "alpine", Version: "3.9.4"}}, Findings: []scan.Finding{
			{Category: scan.SystemVulnerability, ID: "CVE-2019-1", Package: &scan.PackageRef{Name: "musl", Version: "1.1.20-r4", Type: "apk"}, FixedVersion: "1.1.20-r5"},
		}}
		res, err := (&Fixer{HTTP: loopback}).Fix(ctx, image, r, Request{})
		if err != nil || res.Image != nil || res.Fixable != FixCommands || len(res.Commands) != 1 || !strings.HasPrefix(res.Commands[0], "apk add --upgrade musl=1.1.20-r5") {
			t.Errorf("%+v %v", res, err)
		}
	})
}

// loopback is the HTTP client of every test fixer: were the code under
// test to ask another host than the test's repository (a default mirror),
// the test fails on the refusal, and nothing leaves the machine.
var loopback = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if ip, perr := netip.ParseAddr(host); err != nil || perr != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("test dialer: %s is not loopback", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}}}

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FuzzRootfs: a hostile layer (the image's, which anyone may push) never
// panics the fix's reading of it, and no path it resolves climbs out of
// the root.
func FuzzRootfs(f *testing.F) {
	f.Add(tarball_(f, base(statusOf(ctl("a", "1", "")), file{name: "usr/lib/x", body: "x"})))
	f.Add(tarball_(f, []file{{name: "a", link: "b"}, {name: "b", link: "a"}, {name: "c", link: "../../../etc"}, {name: "d/.wh..wh..opq"}, {name: "e/.wh.f"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			return
		}
		fs, err := readRootfs(context.Background(), []v1.Layer{layer}, func(p string) bool { return strings.HasPrefix(p, "etc/") })
		if err != nil {
			return
		}
		loadDB(fs)
		for _, p := range []string{"a/x", "c/passwd", "lib/x86_64-linux-gnu/libc.so.6", "d/e/f"} {
			for _, r := range []string{fs.resolve(p), fs.resolveDir(p)} {
				if strings.HasPrefix(r, "/") || strings.HasPrefix(r, "..") || strings.Contains(r, "/../") {
					t.Fatalf("%s resolves to %q", p, r)
				}
			}
		}
	})
}

// swapped is a layer whose blob is not the one its digest names.
type swapped struct{ v1.Layer }

func (s swapped) Digest() (v1.Hash, error) {
	return v1.NewHash("sha256:" + strings.Repeat("0", 64))
}

// TestRootfsRefusesADamagedLayer: the fix reads the image's layers with
// layer.Walk, which checks each blob against its digest.
func TestRootfsRefusesADamagedLayer(t *testing.T) {
	img := imageOf(t, base(statusOf(ctl("a", "1", ""))))
	ls, _ := img.Layers()
	if _, err := readRootfs(context.Background(), []v1.Layer{swapped{ls[0]}}, func(string) bool { return false }); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("a layer that is not its digest's: %v", err)
	}
}
