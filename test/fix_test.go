package test

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/aptrepo"
	"github.com/layerscan/layerscan/shared/deb"
	"github.com/layerscan/layerscan/shared/fix"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/task"
)

// aptMirror is the Debian archive this machine's apt is configured with
// (deb822 .sources files, else sources.list lines): the fix test reads
// the same repository apt does, and no host is written here.
func aptMirror(t testing.TB) aptrepo.Mirror {
	t.Helper()
	var m aptrepo.Mirror
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		deb.ReadParagraphs(strings.NewReader(string(b)), func(p deb.Paragraph) error {
			if !strings.Contains(p.Get("Types"), "deb") || !strings.Contains(p.Get("Components"), "main") {
				return nil
			}
			for _, u := range strings.Fields(p.Get("URIs")) {
				if !strings.Contains(u, "debian") {
					continue
				}
				for _, s := range strings.Fields(p.Get("Suites")) {
					m.Suites = append(m.Suites, aptrepo.Suite{URL: u, Name: s})
				}
				if k := p.Get("Signed-By"); k != "" && m.Keyring == "" {
					m.Keyring = k
				}
			}
			return nil
		})
	}
	if f, err := os.Open("/etc/apt/sources.list"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 4 && fs[0] == "deb" && strings.Contains(fs[1], "debian") {
				m.Suites = append(m.Suites, aptrepo.Suite{URL: fs[1], Name: fs[2]})
			}
		}
		f.Close()
	}
	if m.Keyring == "" {
		m.Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
	}
	if len(m.Suites) == 0 {
		t.Fatal("this machine's apt sources name no Debian archive")
	}
	return m
}

// mirrorDialer dials loopback and the addresses the mirror's hosts have,
// and refuses every other: the fix reaches the apt mirror and the test
// registry, nothing else.
func mirrorDialer(t *testing.T, m aptrepo.Mirror) func(ctx context.Context, network, addr string) (net.Conn, error) {
	allowed := map[netip.Addr]bool{}
	for _, s := range m.Suites {
		u, _ := url.Parse(s.URL)
		ips, _ := net.DefaultResolver.LookupNetIP(context.Background(), "ip", u.Hostname())
		for _, ip := range ips {
			allowed[ip.Unmap()] = true
		}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		ip, err := netip.ParseAddr(host)
		if err != nil { // a name: dial what it resolves to, if allowed
			ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			if lerr != nil || len(ips) == 0 {
				return nil, fmt.Errorf("test dialer: %s: %v", addr, lerr)
			}
			ip = ips[0]
		}
		if !ip.IsLoopback() && !allowed[ip.Unmap()] {
			return nil, fmt.Errorf("test dialer: %s is neither loopback nor the apt mirror", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fixLog is the fix log of a fix task's only image.
func fixLog(t *testing.T, v task.View) suite.FixLog {
	t.Helper()
	if len(v.Log) != 1 || v.Log[0].Fix == nil {
		t.Fatalf("fix task log: %+v", v.Log)
	}
	var lg suite.FixLog
	if err := json.Unmarshal(v.Log[0].Fix, &lg); err != nil {
		t.Fatal(err)
	}
	return lg
}

// TestFixDebianImage: the corpus Debian image, pushed to a real
// docker-registry and scanned, is fixed from the Debian archive this
// machine's apt uses (InRelease verified with the keyring package): the
// fixed image is pushed as <tag>_fixd on top of the original layers, its
// rescan has none of the openssl CVEs EXPECTED.md lists, and the fixed
// openssl runs in a chroot of its root filesystem.
func TestFixDebianImage(t *testing.T) {
	needDockerRegistry(t)
	addr := startDebianRegistry(t)
	img := corpusDebian(t)
	push(t, img, addr+"/team/app:1.0")
	d, _ := img.Digest()

	a := newAPIEnv(t)
	mirror := aptMirror(t)
	a.env.Guard.Dial = mirrorDialer(t, mirror)
	a.do(t, "POST", "/v1/registries", `{"id":"r","kind":"generic","hosts":["`+addr+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	mj, _ := json.Marshal(mirror)
	a.putSettings(t, `{"fix":{"cycle":"1w","mirrors":{"debian":`+string(mj)+`}}}`)
	a.scanOK(t, addr+"/team/app:1.0")
	before := getReport(t, a, d.String())
	for _, f := range before.Findings {
		if f.Package != nil && f.Package.Name == "openssl" && f.Fixable != "image" {
			t.Errorf("%s of openssl: fixable %q, want image", f.ID, f.Fixable)
		}
	}

	for _, f := range before.Findings {
		if f.ID == "GHSA-p6mc-m468-83gw" && f.Fixable != "commands" {
			t.Errorf("lodash %s: fixable %q, want commands", f.ID, f.Fixable)
		}
	}

	// A viewer may not fix; a malformed request is a 400 and starts nothing.
	ctx := context.Background()
	_, viewer, _ := a.env.Keys.Create(ctx, apikeys.Viewer, "v", nil, "test")
	fixPath := "/v1/images/" + d.String() + "/fix"
	if code, _ := a.doAs(t, viewer, "POST", fixPath, `{"repository":"`+addr+`/team/app","tag":"1.0"}`); code != http.StatusForbidden {
		t.Errorf("viewer fix: %d", code)
	}
	for _, body := range []string{`{"repository":"` + addr + `/team/app"}`, `{"repository":"team","tag":"1.0"}`, `{"repository":"` + addr + `/team/app","tag":"1.0","x":1}`} {
		if code, resp := a.do(t, "POST", fixPath, body); code != http.StatusBadRequest {
			t.Errorf("fix %s: %d %s", body, code, resp)
		}
	}

	// The archive's real InRelease checked against a keyring that did not
	// sign it: the fix is refused and nothing is pushed.
	wrong := mirror
	wrong.Keyring = "/usr/share/keyrings/debian-archive-removed-keys.gpg"
	wj, _ := json.Marshal(wrong)
	a.putSettings(t, `{"fix":{"cycle":"1w","mirrors":{"debian":`+string(wj)+`}}}`)
	code, body := a.do(t, "POST", fixPath, `{"repository":"`+addr+`/team/app","tag":"1.0"}`)
	var refused task.View
	json.Unmarshal([]byte(body), &refused)
	if v := a.taskDone(t, refused.ID); code != http.StatusAccepted || v.Status != task.Failed || !strings.Contains(v.Log[0].Reason, "signature") {
		t.Errorf("fix with the wrong keyring: %d %+v", code, v)
	}
	if _, err := remote.Head(mustRef(t, addr+"/team/app:1.0_fixd")); err == nil {
		t.Error("a fix over an unverified archive pushed an image")
	}

	// Automatic fixing: the timer starts one fix task per fixing cycle over
	// the images of the fixing scope; a rule that covers nothing fixes nothing.
	a.putSettings(t, `{"fix":{"auto":true,"cycle":"1w","scope":[{"registry":"r","repositories":["team/other"]}],"mirrors":{"debian":`+string(mj)+`}}}`)
	out, err := a.env.PeriodicScan(ctx, nil)
	var o suite.Outcome
	json.Unmarshal(out, &o)
	autoID, _ := o.Detail.(map[string]any)["fixTask"].(string)
	if err != nil || !strings.HasPrefix(autoID, "autofix-") {
		t.Fatalf("periodic-scan with automatic fixing: %v %s", err, out)
	}
	if v := a.taskDone(t, autoID); v.Type != task.Fix || v.Counts.Total != 0 {
		t.Errorf("automatic fixing outside its scope: %+v", v)
	}
	a.env.Now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) } // the next fixing cycle
	a.putSettings(t, `{"fix":{"auto":true,"cycle":"1w","timeRangeDays":36500,"scope":[{"registry":"r","repositories":["team/app"],"tagRegex":"1\\..*"}],"mirrors":{"debian":`+string(mj)+`}}}`)
	out, _ = a.env.PeriodicScan(ctx, nil)
	o = suite.Outcome{}
	json.Unmarshal(out, &o)
	autoID2, _ := o.Detail.(map[string]any)["fixTask"].(string)
	auto := a.taskDone(t, autoID2)
	if autoID2 == autoID || auto.Status != task.Succeeded || auto.Counts.Total != 1 || fixLog(t, auto).Pushed != addr+"/team/app:1.0_fixd" {
		t.Fatalf("automatic fixing: %s %+v", autoID2, auto)
	}
	if again, _ := a.env.PeriodicScan(ctx, nil); strings.Contains(string(again), "fixTask") {
		t.Errorf("a second timer run in the same fixing cycle started another fix: %s", again)
	}
	a.env.Now = nil

	v := a.runTask(t, fixPath, `{"repository":"`+addr+`/team/app","tag":"1.0"}`)
	lg := fixLog(t, v)
	if v.Type != task.Fix || v.Status != task.Succeeded {
		t.Fatalf("fix task: %+v\n%s", v, v.Log[0].Fix)
	}
	// Per package: the version chosen and where it came from.
	var openssl bool
	for _, u := range lg.Upgrades {
		if u.Package == "openssl" {
			openssl = true
			if deb.Compare(u.To, "3.0.22-1~deb12u2") < 0 || u.From != "3.0.20-1~deb12u2" || !strings.Contains(u.Origin, "security") {
				t.Errorf("openssl upgrade: %+v", u)
			}
		}
	}
	if !openssl || len(lg.Repositories) == 0 || !strings.Contains(lg.Repositories[0], "signed by") {
		t.Errorf("fix log: %+v", lg)
	}
	if !lg.Verification.OK || lg.Pushed != addr+"/team/app:1.0_fixd" {
		t.Fatalf("verification %+v, pushed %q", lg.Verification, lg.Pushed)
	}

	// A second delivery of the job (queues deliver twice) fixes nothing again.
	if err := a.env.RunFix(ctx, suite.FixJob{Task: v.ID, Item: 0}); err != nil {
		t.Fatal(err)
	}
	if desc, err := remote.Head(mustRef(t, lg.Pushed)); err != nil || desc.Digest.String() != lg.PushedDigest {
		t.Errorf("a second delivery pushed again: %v %v", desc, err)
	}

	// The pushed image: the original layers, one more, one history line.
	ref, _ := name.ParseReference(lg.Pushed, name.Insecure)
	fixed, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	orig, fl := layerDigests(t, img), layerDigests(t, fixed)
	if len(fl) != len(orig)+1 || strings.Join(fl[:len(orig)], ",") != strings.Join(orig, ",") {
		t.Errorf("fixed layers %v, original %v", fl, orig)
	}
	cfg, _ := fixed.ConfigFile()
	if h := cfg.History[len(cfg.History)-1]; !strings.Contains(h.CreatedBy, "layerscan fix") || !strings.Contains(h.CreatedBy, "openssl") {
		t.Errorf("history: %+v", h)
	}
	fd, _ := fixed.Digest()
	after := getReport(t, a, fd.String())
	for _, id := range []string{"CVE-2026-35189", "CVE-2026-42767", "CVE-2026-54872", "CVE-2026-84782"} {
		if !has(before, id) || has(after, id) {
			t.Errorf("%s: before %v, after %v", id, has(before, id), has(after, id))
		}
	}
	for _, p := range after.Packages {
		if (p.Name == "openssl" || p.Name == "libssl3") && deb.Compare(p.Version, "3.0.22-1~deb12u2") < 0 {
			t.Errorf("%s %s after the fix", p.Name, p.Version)
		}
	}
	if n := countCategory(after, scan.SystemVulnerability); n != 0 {
		t.Errorf("%d system vulnerabilities remain after fixing every fixable one", n)
	}
	code, body = a.do(t, "GET", "/v1/fixes", "")
	var listed struct{ Images []suite.RemediationStatus }
	json.Unmarshal([]byte(body), &listed)
	if code != http.StatusOK || len(listed.Images) != 1 || listed.Images[0].Status != suite.RemediationFixed || listed.Images[0].Digest != d.String() || listed.Images[0].FixedImage != lg.Pushed {
		t.Errorf("GET /v1/fixes: %d %s", code, body)
	}

	// The same on one machine: `layerscan fix`, with the store's settings.
	cliFix(t, addr, mj)

	// The fixed openssl runs inside the fixed root filesystem.
	if os.Geteuid() != 0 {
		t.Log("not root: the chroot check of the fixed image is skipped")
		return
	}
	root := t.TempDir()
	untar(t, mutate.Extract(fixed), root)
	out, err = exec.Command("chroot", root, "/usr/bin/openssl", "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OpenSSL 3.0.22") {
		t.Errorf("openssl version in the fixed image: %v %s", err, out)
	}
	out, err = exec.Command("chroot", root, "/usr/bin/dpkg", "--verify", "openssl", "libssl3").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("dpkg --verify in the fixed image: %v %s", err, out)
	}
	if fi, err := os.Lstat(filepath.Join(root, "lib")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("/lib is no longer the merged-/usr symlink: %v %v", fi, err)
	}
}

func countCategory(r report.Report, c scan.Category) int {
	n := 0
	for _, f := range r.Findings {
		if f.Category == c && !f.Whitelisted {
			n++
		}
	}
	return n
}

// untar unpacks a flattened filesystem (mutate.Extract) into dir.
func untar(t *testing.T, rc io.ReadCloser, dir string) {
	t.Helper()
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm|0o700)
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.Symlink(h.Linkname, p)
		case tar.TypeLink:
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.Link(filepath.Join(dir, filepath.Clean("/"+h.Linkname)), p)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&os.ModePerm)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(f, tr)
			f.Close()
		}
	}
}

// cliFix runs `layerscan fix` on the pushed corpus image (pushing to
// another tag) and on the Alpine corpus image, which gets commands.
func cliFix(t *testing.T, addr string, mirror []byte) {
	bin := buildCLI(t)
	dir := t.TempDir()
	copyDB(t, dir)
	settingsFile := filepath.Join(t.TempDir(), "settings.json")
	os.WriteFile(settingsFile, []byte(`{"fix":{"cycle":"1w","mirrors":{"debian":`+string(mirror)+`}}}`), 0o644)
	if out, err := exec.Command(bin, "settings", "set", settingsFile, "--store", dir).CombinedOutput(); err != nil {
		t.Fatalf("settings set: %v %s", err, out)
	}
	cmd := exec.Command(bin, "fix", "--store", dir, "--insecure", "--quiet", "--push", addr+"/team/app:cli-fixed", addr+"/team/app:1.0")
	out, err := cmd.Output()
	var lg suite.FixLog
	json.Unmarshal(out, &lg)
	if err != nil || lg.Pushed != addr+"/team/app:cli-fixed" || lg.Verification == nil || !lg.Verification.OK || len(lg.Upgrades) == 0 {
		t.Fatalf("layerscan fix: %v\n%s", err, out)
	}
	ref, _ := name.ParseReference(lg.Pushed, name.Insecure)
	if desc, err := remote.Head(ref); err != nil || desc.Digest.String() != lg.PushedDigest {
		t.Errorf("pushed %s: %v %v", lg.Pushed, desc, err)
	}
	alpine := filepath.Join(sharedDir(t), "corpus", "images", "alpine-3.9-app.tar")
	var stderr strings.Builder
	cmd = exec.Command(bin, "fix", "--store", dir, "--quiet", "--layout", filepath.Join(t.TempDir(), "out"), alpine)
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	json.Unmarshal(out, &lg)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "fix images are not supported for this distribution: apply these commands") || !strings.Contains(stderr.String(), "apk add --upgrade") {
		t.Errorf("layerscan fix of an Alpine image: %v\n%s", err, stderr.String())
	}
}

// ubuntuArchiveKey is the fingerprint of "Ubuntu Archive Automatic Signing
// Key (2018) <ftpmaster@ubuntu.com>", as Ubuntu publishes it: the trust
// anchor of the Ubuntu test. The keyring package is fetched from the
// archive it signs, so only a key with this fingerprint is taken from it.
const ubuntuArchiveKey = "F6ECB3762474EDA9D21B7022871920D1991BC93C"

// ubuntuKeyring is Ubuntu's archive key, armored, from the ubuntu-keyring
// package of the archive the fix defaults to (Debian's archive here has
// no Ubuntu keyring package).
func ubuntuKeyring(t *testing.T, c *http.Client) string {
	t.Helper()
	root := fix.Defaults["ubuntu"].Suites[0].URL
	resp, err := c.Get(root + "/dists/noble/main/binary-amd64/Packages.gz")
	if err != nil {
		// The machines this runs on reach Debian's archive by contract;
		// Ubuntu's is reached where the network allows it.
		t.Skipf("Ubuntu's archive is not reachable from here: %v", err)
	}
	defer resp.Body.Close()
	z, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	filename := ""
	deb.ReadParagraphs(z, func(p deb.Paragraph) error {
		if p.Get("Package") == "ubuntu-keyring" {
			filename = p.Get("Filename")
		}
		return nil
	})
	if filename == "" {
		t.Fatal("no ubuntu-keyring in noble main")
	}
	dr, err := c.Get(root + "/" + filename)
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Body.Close()
	var armoredKey string
	_, err = deb.Read(dr.Body, func(_ *deb.Package, tr *tar.Reader) error {
		for {
			h, err := tr.Next()
			if err != nil {
				return nil
			}
			if strings.TrimPrefix(h.Name, ".") != "/usr/share/keyrings/ubuntu-archive-keyring.gpg" {
				continue
			}
			kr, err := openpgp.ReadKeyRing(tr)
			if err != nil {
				return err
			}
			for _, e := range kr {
				if strings.EqualFold(hex.EncodeToString(e.PrimaryKey.Fingerprint), ubuntuArchiveKey) {
					var b strings.Builder
					w, _ := armor.Encode(&b, openpgp.PublicKeyType, nil)
					e.Serialize(w)
					w.Close()
					armoredKey = b.String()
				}
			}
		}
	})
	if err != nil || armoredKey == "" {
		t.Fatalf("no key %s in ubuntu-keyring: %v", ubuntuArchiveKey, err)
	}
	return armoredKey
}

// TestFixUbuntuImage: the corpus Ubuntu 24.04 image, fixed from Ubuntu's
// archive (noble, noble-updates, noble-security, verified with Ubuntu's
// archive key): the three USNs EXPECTED.md lists are gone, and the fixed
// packages are registered in the fixed image's dpkg database.
func TestFixUbuntuImage(t *testing.T) {
	needDockerRegistry(t)
	addr := startDebianRegistry(t)
	p, err := layout.FromPath(filepath.Join(sharedDir(t), "corpus", "images", "ubuntu-24.04-noble"))
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, _ := idx.IndexManifest()
	img, err := p.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	push(t, img, addr+"/team/noble:24.04")
	d, _ := img.Digest()

	mirror := fix.Defaults["ubuntu"]
	a := newAPIEnv(t)
	a.env.Guard.Dial = mirrorDialer(t, mirror)
	mirror.Keyring = ""
	mirror.KeyringArmored = ubuntuKeyring(t, &http.Client{Transport: &http.Transport{DialContext: mirrorDialer(t, mirror)}, Timeout: time.Minute})
	mj, _ := json.Marshal(mirror)
	a.do(t, "POST", "/v1/registries", `{"id":"r","kind":"generic","hosts":["`+addr+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	a.putSettings(t, `{"fix":{"cycle":"1w","mirrors":{"ubuntu":`+string(mj)+`}}}`)
	a.scanOK(t, addr+"/team/noble:24.04")
	before := getReport(t, a, d.String())
	usns := []string{"USN-6937-1", "USN-6986-1", "USN-7281-1"}
	for _, id := range usns {
		if !has(before, id) {
			t.Fatalf("%s not found before the fix: %v", id, ids(before))
		}
	}
	v := a.runTask(t, "/v1/images/"+d.String()+"/fix", `{"repository":"`+addr+`/team/noble","tag":"24.04"}`)
	lg := fixLog(t, v)
	if v.Status != task.Succeeded || !lg.Verification.OK || lg.Pushed != addr+"/team/noble:24.04_fixd" {
		t.Fatalf("fix task %+v\n%s", v, v.Log[0].Fix)
	}
	fixed, err := remote.Image(mustRef(t, lg.Pushed))
	if err != nil {
		t.Fatal(err)
	}
	fd, _ := fixed.Digest()
	after := getReport(t, a, fd.String())
	for _, id := range usns {
		if has(after, id) {
			t.Errorf("%s remains after the fix", id)
		}
	}
	for _, pk := range after.Packages {
		if pk.Name == "libssl3t64" && deb.Compare(pk.Version, "3.0.13-0ubuntu3.4") < 0 || pk.Name == "libgnutls30t64" && deb.Compare(pk.Version, "3.8.3-1.1ubuntu3.3") < 0 {
			t.Errorf("%s %s after the fix", pk.Name, pk.Version)
		}
	}
	if !strings.Contains(strings.Join(lg.Repositories, " "), "Ubuntu Archive Automatic Signing Key") {
		t.Errorf("repositories: %v", lg.Repositories)
	}
	// Debian's dpkg reads the fixed image's database and checks its files.
	// (The image's own binaries cannot run in a chroot: the corpus rebuilt
	// its file modes from git, and its ld.so is not executable.)
	if _, err := exec.LookPath("dpkg-query"); err == nil {
		root := t.TempDir()
		untar(t, mutate.Extract(fixed), root)
		out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Version}", "libssl3t64").CombinedOutput()
		if err != nil || deb.Compare(string(out), "3.0.13-0ubuntu3.4") < 0 {
			t.Errorf("dpkg-query of the fixed image's database: %v %s", err, out)
		}
		if out, err := exec.Command("dpkg", "--root="+root, "--verify", "libssl3t64", "libgnutls30t64").CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("dpkg --verify of the fixed image: %v %s", err, out)
		}
	}
}
