package fix

import (
	"archive/tar"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Bounds on what the image's file tree may make a fix hold: real images
// have tens of thousands of entries and a status file of a few megabytes.
const (
	maxEntries  = 2_000_000
	maxDBFile   = 64 << 20
	maxDBFiles  = 20_000
	maxSymlinks = 200_000
)

// entry is what a fix needs to know of one path of the image's final
// filesystem.
type entry struct {
	typ  byte // tar type flag
	link string
	md5  string // of regular files the fix asked to hash
}

// rootfs is the part of an image's final filesystem a fix reads: every
// path's type (a directory that is a symlink in the image must be
// written through the link, or the layer would replace it), the dpkg
// database files, and the digests of the conffiles it may overwrite.
type rootfs struct {
	entries map[string]entry
	files   map[string][]byte // var/lib/dpkg/status, status.d/*, info/*.list
	links   int
}

// wantFile reports whether the content of p is kept.
func wantFile(p string) bool {
	if p == "var/lib/dpkg/status" {
		return true
	}
	if rest, ok := strings.CutPrefix(p, "var/lib/dpkg/status.d/"); ok {
		return rest != "" && !strings.Contains(rest, "/")
	}
	if rest, ok := strings.CutPrefix(p, "var/lib/dpkg/info/"); ok {
		return strings.HasSuffix(rest, ".list") && !strings.Contains(rest, "/")
	}
	return false
}

// readRootfs walks the layers top-down: the first (highest) entry for a
// path wins, and whiteouts and opaque directories hide what lies below
// them. hash says which regular files' MD5 is wanted (conffiles).
func readRootfs(layers []v1.Layer, hash func(string) bool) (*rootfs, error) {
	fs := &rootfs{entries: map[string]entry{}, files: map[string][]byte{}}
	deleted := map[string]bool{} // whiteouts of layers above
	opaque := map[string]bool{}  // opaque directories of layers above
	for i := len(layers) - 1; i >= 0; i-- {
		rc, err := layers[i].Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		del, opq, err := fs.readLayer(tar.NewReader(rc), deleted, opaque, hash)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		for p := range del {
			deleted[p] = true
		}
		for p := range opq {
			opaque[p] = true
		}
	}
	return fs, nil
}

// hidden reports whether a path of a lower layer is hidden by a whiteout
// of itself or an ancestor, or an opaque ancestor, above.
func hidden(p string, deleted, opaque map[string]bool) bool {
	if deleted[p] {
		return true
	}
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if deleted[d] || opaque[d] {
			return true
		}
	}
	return false
}

func (fs *rootfs) readLayer(tr *tar.Reader, deleted, opaque map[string]bool, hash func(string) bool) (del, opq map[string]bool, err error) {
	del, opq = map[string]bool{}, map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return del, opq, nil
		}
		if err != nil {
			return nil, nil, err
		}
		p := clean(h.Name)
		if p == "" {
			continue
		}
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		if base == ".wh..wh..opq" {
			opq[dir] = true
			continue
		}
		if name, ok := strings.CutPrefix(base, ".wh."); ok {
			del[path.Join(dir, name)] = true
			continue
		}
		if hidden(p, deleted, opaque) {
			continue
		}
		if _, seen := fs.entries[p]; seen {
			continue
		}
		if len(fs.entries) >= maxEntries {
			return nil, nil, fmt.Errorf("more than %d paths", maxEntries)
		}
		e := entry{typ: h.Typeflag}
		switch h.Typeflag {
		case tar.TypeSymlink:
			if fs.links++; fs.links > maxSymlinks {
				return nil, nil, fmt.Errorf("more than %d symlinks", maxSymlinks)
			}
			e.link = h.Linkname
		case tar.TypeLink:
			e.link = clean(h.Linkname)
		case tar.TypeReg:
			e.typ = tar.TypeReg
			switch {
			case wantFile(p):
				if h.Size > maxDBFile || len(fs.files) >= maxDBFiles {
					return nil, nil, fmt.Errorf("%s: the dpkg database is larger than a fix takes", p)
				}
				b, err := io.ReadAll(io.LimitReader(tr, h.Size))
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %w", p, err)
				}
				fs.files[p] = b
			case hash(p):
				m := md5.New()
				if _, err := io.Copy(m, tr); err != nil {
					return nil, nil, fmt.Errorf("%s: %w", p, err)
				}
				e.md5 = hex.EncodeToString(m.Sum(nil))
			}
		}
		fs.entries[p] = e
	}
}

// clean turns a tar name into a path relative to the root; "" for the
// root itself or a name that climbs out of it.
func clean(name string) string {
	p := path.Clean("/" + strings.TrimPrefix(name, "./"))
	if p == "/" {
		return ""
	}
	return strings.TrimPrefix(p, "/")
}

// resolve rewrites p so that no directory on its way is a symlink of the
// image (merged /usr: lib → usr/lib), as dpkg's unpack follows them. The
// final component is left alone. Links that climb out of the root are
// taken from the root, as the kernel does inside a container.
func (fs *rootfs) resolve(p string) string { return fs.walk(p, false) }

// resolveDir also follows a symlink at p itself: a package's directory
// entry does not replace a symlink to a directory, as dpkg keeps it.
func (fs *rootfs) resolveDir(p string) string { return fs.walk(p, true) }

func (fs *rootfs) walk(p string, last bool) string {
	parts := strings.Split(p, "/")
	n := len(parts) - 1
	if last {
		n = len(parts)
	}
	cur := ""
	for i := 0; i < n; i++ {
		next := path.Join(cur, parts[i])
		for hops := 0; hops < 40; hops++ {
			e, ok := fs.entries[next]
			if !ok || e.typ != tar.TypeSymlink {
				break
			}
			t := e.link
			if strings.HasPrefix(t, "/") {
				next = clean(t)
			} else {
				next = clean(path.Join(path.Dir(next), t))
			}
		}
		cur = next
	}
	if last {
		return cur
	}
	return path.Join(cur, parts[len(parts)-1])
}
