package fix

import (
	"archive/tar"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerscan/layerscan/shared/layer"
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

// maxHashed bounds a file whose MD5 is taken: conffiles are kilobytes,
// and a larger file under /etc is taken as changed (it is kept).
const maxHashed = 1 << 20

// readRootfs walks the layers top-down with layer.Walk (its limits, its
// path cleaning, and the check of each blob against its digest, so that a
// damaged or swapped layer fails the fix): the first (highest) entry for a
// path wins, and whiteouts and opaque directories hide what lies below
// them. Directories are known from the paths under them. hash says which
// regular files' MD5 is wanted (conffiles).
func readRootfs(ctx context.Context, layers []v1.Layer, hash func(string) bool) (*rootfs, error) {
	fs := &rootfs{entries: map[string]entry{}, files: map[string][]byte{}}
	deleted := map[string]bool{} // whiteouts of layers above
	opaque := map[string]bool{}  // opaque directories of layers above
	for i := len(layers) - 1; i >= 0; i-- {
		res, err := fs.readLayer(ctx, layers[i], deleted, opaque, hash)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		for _, p := range res.Whiteouts {
			deleted[p] = true
		}
		for _, p := range res.OpaqueDirs {
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

func (fs *rootfs) readLayer(ctx context.Context, l v1.Layer, deleted, opaque map[string]bool, hash func(string) bool) (*layer.Result, error) {
	digest, err := l.Digest()
	if err != nil {
		return nil, err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return layer.Walk(ctx, rc, layer.Expect{Digest: digest.String(), DiffID: diffID.String()}, layer.DefaultLimits, func(le layer.Entry, r io.Reader) error {
		p, h := le.Path, le.Header
		if p == "" || hidden(p, deleted, opaque) {
			return nil
		}
		if _, seen := fs.entries[p]; seen {
			return nil
		}
		if len(fs.entries) >= maxEntries {
			return fmt.Errorf("more than %d paths", maxEntries)
		}
		// the directories on its way are directories of the final tree,
		// unless a higher layer made them something else
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := fs.entries[d]; ok {
				break
			}
			fs.entries[d] = entry{typ: tar.TypeDir}
		}
		e := entry{typ: h.Typeflag}
		switch h.Typeflag {
		case tar.TypeSymlink:
			if fs.links++; fs.links > maxSymlinks {
				return fmt.Errorf("more than %d symlinks", maxSymlinks)
			}
			e.link = h.Linkname
		case tar.TypeLink:
			e.link = clean(h.Linkname)
		case tar.TypeReg:
			switch {
			case wantFile(p):
				if h.Size > maxDBFile || len(fs.files) >= maxDBFiles {
					return fmt.Errorf("the dpkg database is larger than a fix takes")
				}
				b, err := io.ReadAll(io.LimitReader(r, h.Size))
				if err != nil {
					return err
				}
				fs.files[p] = b
			case hash(p) && h.Size <= maxHashed:
				m := md5.New()
				if _, err := io.Copy(m, r); err != nil {
					return err
				}
				e.md5 = hex.EncodeToString(m.Sum(nil))
			}
		}
		fs.entries[p] = e
		return nil
	})
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
