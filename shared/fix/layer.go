package fix

import (
	"archive/tar"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/aptrepo"
	"github.com/layerscan/layerscan/shared/deb"
)

// fetched is a chosen package whose .deb is downloaded and verified.
type fetched struct {
	pick
	file string // the verified .deb on local disk
}

// layerWriter writes the fix layer: the new versions' files (through the
// image's directory symlinks), whiteouts for files the old versions had
// and the new ones dropped, the dpkg info files, and the database.
type layerWriter struct {
	tw      *tar.Writer
	fs      *rootfs
	db      *dpkgDB
	now     time.Time
	written map[string]bool
	notes   []string
	bytes   int64
}

// Bounds on the fix layer: the packages come from a signed archive, but a
// .deb is a compressed archive whose unpacked size only its bytes tell.
const (
	maxLayerBytes   = 16 << 30
	maxLayerEntries = 1_000_000
)

func (w *layerWriter) header(h *tar.Header) error {
	if w.written[h.Name] {
		return nil
	}
	if w.bytes += h.Size; w.bytes > maxLayerBytes || len(w.written) >= maxLayerEntries {
		return fmt.Errorf("the fix layer would exceed %d bytes or %d entries", int64(maxLayerBytes), maxLayerEntries)
	}
	w.written[h.Name] = true
	h.Format = tar.FormatPAX
	return w.tw.WriteHeader(h)
}

func (w *layerWriter) file(name string, mode int64, b []byte) error {
	name = w.fs.resolve(name)
	if err := w.header(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(b)), ModTime: w.now, Uname: "root", Gname: "root"}); err != nil {
		return err
	}
	_, err := w.tw.Write(b)
	return err
}

// defaultLibDirs are where ld.so looks without its cache.
var defaultLibDirs = regexp.MustCompile(`^(usr/)?lib(64|32|x32)?(/[a-z0-9_]+-linux-gnu[a-z0-9_]*)?/lib[^/]*\.so(\.[0-9.]+)?$`)

// install writes one package. It returns the new status paragraph and
// the package's control part.
func (w *layerWriter) install(f fetched) (deb.Paragraph, *deb.Package, error) {
	in, err := os.Open(f.file)
	if err != nil {
		return nil, nil, err
	}
	defer in.Close()
	old := w.db.oldParagraph(f.cand.Name())
	// conffiles the image changed since the old version installed them
	// are kept, as dpkg keeps them (confold); the new one goes beside.
	oldSums := conffileSums(old)
	var list []string
	sums := map[string]string{}
	pkg, err := deb.Read(in, func(pkg *deb.Package, tr *tar.Reader) error {
		conff := map[string]bool{}
		for _, c := range pkg.Conffiles {
			conff[strings.TrimPrefix(path.Clean(c), "/")] = true
		}
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s data: %w", f.cand.Name(), err)
			}
			p := clean(h.Name)
			if p == "" {
				continue
			}
			list = append(list, "/"+p)
			target := w.fs.resolve(p)
			if h.Typeflag == tar.TypeDir {
				target = w.fs.resolveDir(p)
				if e, ok := w.fs.entries[target]; ok && e.typ == tar.TypeDir {
					continue // the image's directory (or the one its symlink names) stays as it is
				}
			}
			nh := *h
			nh.Name = target
			nh.PAXRecords = nil
			switch h.Typeflag {
			case tar.TypeLink:
				nh.Linkname = w.fs.resolve(clean(h.Linkname))
			case tar.TypeReg:
				nh.Typeflag = tar.TypeReg
				if conff[p] {
					m := md5.New()
					var buf bytes.Buffer
					if _, err := io.Copy(io.MultiWriter(m, &buf), io.LimitReader(tr, h.Size)); err != nil {
						return err
					}
					sum := hex.EncodeToString(m.Sum(nil))
					sums["/"+p] = sum
					// changed since installed, or too large to hash: the image's stays
					if e, ok := w.fs.entries[target]; ok && e.typ == tar.TypeReg && oldSums["/"+p] != "" && (e.md5 == "" || e.md5 != oldSums["/"+p]) {
						nh.Name = target + ".dpkg-dist"
						w.notes = append(w.notes, fmt.Sprintf("%s: /%s was changed in the image; it is kept, and the new version is /%s", f.cand.Name(), p, nh.Name))
					}
					if err := w.header(&nh); err != nil {
						return err
					}
					if _, err := w.tw.Write(buf.Bytes()); err != nil {
						return err
					}
					continue
				}
				if defaultLibDirs.MatchString(target) {
					// fine without the ld.so cache
				} else if strings.Contains(path.Base(target), ".so.") && !w.hadFile(old, "/"+p) {
					w.notes = append(w.notes, fmt.Sprintf("%s: new library /%s is outside ld.so's default directories; ldconfig was not run, so programs find it only through RUNPATH or LD_LIBRARY_PATH until it is", f.cand.Name(), target))
				}
			}
			if err := w.header(&nh); err != nil {
				return err
			}
			if nh.Typeflag == tar.TypeReg {
				if _, err := io.Copy(w.tw, io.LimitReader(tr, h.Size)); err != nil {
					return err
				}
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	if err := w.dropRemoved(f.cand.Name(), old, list); err != nil {
		return nil, nil, err
	}
	para := statusParagraph(pkg.Control, w.db.distroless)
	if len(pkg.Conffiles) > 0 && !w.db.distroless {
		var b strings.Builder
		for _, c := range pkg.Conffiles {
			b.WriteString("\n " + c + " " + sums[c])
		}
		para.Set("Conffiles", b.String())
	}
	if err := w.info(f.cand, pkg, para, list); err != nil {
		return nil, nil, err
	}
	return para, pkg, nil
}

// statusParagraph is the database paragraph of a newly unpacked package:
// its control fields, with the Status dpkg writes after a configure.
func statusParagraph(control deb.Paragraph, distroless bool) deb.Paragraph {
	var p deb.Paragraph
	for _, f := range control {
		p = append(p, f)
		if strings.EqualFold(f.Name, "Package") && !distroless {
			p = append(p, deb.Field{Name: "Status", Value: "install ok installed"})
		}
	}
	return p
}

func conffileSums(p deb.Paragraph) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(p.Get("Conffiles"), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}

func (w *layerWriter) hadFile(old deb.Paragraph, p string) bool {
	if old == nil {
		return false
	}
	for _, f := range w.oldList(old) {
		if f == p {
			return true
		}
	}
	return false
}

func (w *layerWriter) oldList(old deb.Paragraph) []string {
	b := w.fs.files[path.Join("var/lib/dpkg/info", listName(w.fs, old)+".list")]
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "/." {
			out = append(out, l)
		}
	}
	return out
}

// dropRemoved whites out the files the old version installed that the
// new one no longer ships, as dpkg removes them on upgrade. Directories
// stay (other packages may own them).
func (w *layerWriter) dropRemoved(name string, old deb.Paragraph, newList []string) error {
	if old == nil || w.db.distroless {
		return nil
	}
	keep := map[string]bool{}
	for _, p := range newList {
		keep[w.fs.resolve(clean(p))] = true
	}
	var gone []string
	for _, p := range w.oldList(old) {
		t := w.fs.resolve(clean(p))
		e, ok := w.fs.entries[t]
		if t == "" || keep[t] || !ok || e.typ == tar.TypeDir {
			continue
		}
		gone = append(gone, t)
	}
	sort.Strings(gone)
	for _, t := range gone {
		dir, base := path.Split(t)
		if err := w.header(&tar.Header{Name: dir + ".wh." + base, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: w.now}); err != nil {
			return err
		}
	}
	if len(gone) > 0 {
		w.notes = append(w.notes, fmt.Sprintf("%s: %d file(s) of the old version that the new one does not ship are removed", name, len(gone)))
	}
	return nil
}

// infoFiles are the control members dpkg keeps under var/lib/dpkg/info.
var infoFiles = []string{"preinst", "postinst", "prerm", "postrm", "config", "triggers", "shlibs", "symbols", "templates"}

func (w *layerWriter) info(c aptrepo.Candidate, pkg *deb.Package, para deb.Paragraph, list []string) error {
	if w.db.distroless {
		// distroless keeps one paragraph per package and its md5sums
		if pkg.MD5Sums != nil {
			return w.file("var/lib/dpkg/status.d/"+c.Name()+".md5sums", 0o644, pkg.MD5Sums)
		}
		return nil
	}
	base := "var/lib/dpkg/info/" + listName(w.fs, para)
	var b strings.Builder
	b.WriteString("/.\n")
	for _, p := range list {
		b.WriteString(p + "\n")
	}
	if err := w.file(base+".list", 0o644, []byte(b.String())); err != nil {
		return err
	}
	if pkg.MD5Sums != nil {
		if err := w.file(base+".md5sums", 0o644, pkg.MD5Sums); err != nil {
			return err
		}
	}
	if cf, ok := pkg.Files["conffiles"]; ok {
		if err := w.file(base+".conffiles", 0o644, cf); err != nil {
			return err
		}
	}
	for _, n := range infoFiles {
		if body, ok := pkg.Files[n]; ok {
			mode := int64(0o644)
			if n == "preinst" || n == "postinst" || n == "prerm" || n == "postrm" || n == "config" {
				mode = 0o755
			}
			if err := w.file(base+"."+n, mode, body); err != nil {
				return err
			}
		}
	}
	return nil
}

// database writes the updated status file, or the status.d files.
func (w *layerWriter) database(updated map[string]deb.Paragraph) error {
	if w.db.distroless {
		names := make([]string, 0, len(updated))
		for n := range updated {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			var b bytes.Buffer
			updated[n].WriteTo(&b)
			file := "var/lib/dpkg/status.d/" + n
			if i, ok := w.db.byName[n]; ok && w.db.file[i] != "" {
				file = w.db.file[i]
			}
			if err := w.file(file, 0o644, b.Bytes()); err != nil {
				return err
			}
		}
		return nil
	}
	var b bytes.Buffer
	done := map[string]bool{}
	for i, p := range w.db.paras {
		name := p.Get("Package")
		if np, ok := updated[name]; ok && w.db.byName[name] == i {
			p = np
			done[name] = true
		}
		p.WriteTo(&b)
		b.WriteByte('\n')
	}
	var fresh []string
	for n := range updated {
		if !done[n] {
			fresh = append(fresh, n)
		}
	}
	sort.Strings(fresh)
	for _, n := range fresh {
		updated[n].WriteTo(&b)
		b.WriteByte('\n')
	}
	return w.file("var/lib/dpkg/status", 0o644, b.Bytes())
}

// scriptEffects says what a package's maintainer scripts would have done
// that the fix leaves undone, from what they call.
func scriptEffects(pkg *deb.Package) []string {
	var out []string
	all := ""
	for _, n := range pkg.Scripts() {
		all += string(pkg.Files[n]) + "\n"
	}
	for _, e := range []struct{ word, effect string }{
		{"ldconfig", "the ld.so cache (ldconfig)"},
		{"update-alternatives", "alternatives links"},
		{"deb-systemd", "systemd units"},
		{"update-rc.d", "init scripts"},
		{"adduser", "system users"},
		{"useradd", "system users"},
		{"update-ca-certificates", "the CA certificate bundle"},
		{"dpkg-maintscript-helper", "conffile moves and removals"},
		{"debconf", "debconf answers"},
	} {
		if strings.Contains(all, e.word) {
			out = append(out, e.effect)
		}
	}
	if _, ok := pkg.Files["triggers"]; ok {
		out = append(out, "dpkg triggers")
	}
	return out
}

func (db *dpkgDB) oldParagraph(name string) deb.Paragraph {
	p, _ := db.installed(name)
	return p
}
