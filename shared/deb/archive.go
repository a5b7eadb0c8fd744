package deb

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// MaxControl bounds a package's control archive once unpacked: real ones
// are kilobytes (md5sums of a large package: a few hundred).
const MaxControl = 16 << 20

// Package is the control part of a .deb.
type Package struct {
	Control Paragraph
	// MD5Sums is the md5sums file as shipped ("<md5>  <path>" lines).
	MD5Sums []byte
	// Conffiles are the absolute paths the package marks as conffiles.
	Conffiles []string
	// Files holds the other control members by name: maintainer scripts
	// (preinst, postinst, prerm, postrm, config), triggers, shlibs, symbols,
	// templates.
	Files map[string][]byte
}

// Scripts are the maintainer scripts the package ships, in dpkg's order.
func (p *Package) Scripts() []string {
	var out []string
	for _, n := range []string{"preinst", "postinst", "prerm", "postrm", "config"} {
		if _, ok := p.Files[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// ErrFormat marks input that is not a .deb this reader takes.
var ErrFormat = errors.New("not a Debian binary package")

// Read reads a .deb archive (ar: debian-binary, control.tar*, data.tar*)
// and calls data with the package's control part and a reader of its
// data archive, streamed: the data is never held in memory.
func Read(r io.Reader, data func(*Package, *tar.Reader) error) (*Package, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, fmt.Errorf("%w: no ar magic", ErrFormat)
	}
	var pkg *Package
	sawVersion := false
	for {
		name, size, err := nextMember(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		body := io.LimitReader(br, size)
		switch {
		case name == "debian-binary":
			b, _ := io.ReadAll(io.LimitReader(body, 64))
			if !strings.HasPrefix(string(b), "2.") {
				return nil, fmt.Errorf("%w: format version %q", ErrFormat, clip(strings.TrimSpace(string(b))))
			}
			sawVersion = true
		case strings.HasPrefix(name, "control.tar"):
			if !sawVersion {
				return nil, fmt.Errorf("%w: control before debian-binary", ErrFormat)
			}
			if pkg, err = readControl(name, body); err != nil {
				return nil, err
			}
		case strings.HasPrefix(name, "data.tar"):
			if pkg == nil {
				return nil, fmt.Errorf("%w: data before control", ErrFormat)
			}
			dr, closeFn, err := decompress(name, body)
			if err != nil {
				return nil, err
			}
			err = data(pkg, tar.NewReader(dr))
			closeFn()
			if err != nil {
				return nil, err
			}
			return pkg, nil
		}
		// skip the rest of the member and its padding byte
		if _, err := io.Copy(io.Discard, body); err != nil {
			return nil, fmt.Errorf("member %s: %w", name, err)
		}
		if size%2 == 1 {
			br.ReadByte()
		}
	}
	return nil, fmt.Errorf("%w: no data archive", ErrFormat)
}

func nextMember(br *bufio.Reader) (string, int64, error) {
	hdr := make([]byte, 60)
	if _, err := io.ReadFull(br, hdr); err != nil {
		if err == io.EOF {
			return "", 0, io.EOF
		}
		return "", 0, fmt.Errorf("%w: truncated member header", ErrFormat)
	}
	if string(hdr[58:60]) != "`\n" {
		return "", 0, fmt.Errorf("%w: bad member header", ErrFormat)
	}
	name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
	size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("%w: member %q size", ErrFormat, clip(name))
	}
	return name, size, nil
}

func decompress(name string, r io.Reader) (io.Reader, func(), error) {
	switch path.Ext(name) {
	case ".tar":
		return r, func() {}, nil
	case ".gz":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		return z, func() { z.Close() }, nil
	case ".xz":
		z, err := xz.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		return z, func() {}, nil
	case ".zst":
		z, err := zstd.NewReader(r, zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		return z, z.Close, nil
	case ".bz2":
		return bzip2.NewReader(r), func() {}, nil
	}
	return nil, nil, fmt.Errorf("%w: member %s has an unknown compression", ErrFormat, clip(name))
}

func readControl(name string, r io.Reader) (*Package, error) {
	cr, closeFn, err := decompress(name, r)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	tr := tar.NewReader(cr)
	pkg := &Package{Files: map[string][]byte{}}
	budget := int64(MaxControl)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		n := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if strings.Contains(n, "/") || n == "." {
			continue
		}
		if h.Size > budget {
			return nil, fmt.Errorf("%s: control members exceed %d bytes", name, MaxControl)
		}
		b, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, n, err)
		}
		budget -= int64(len(b))
		switch n {
		case "control":
			if pkg.Control, err = ParseParagraph(b); err != nil {
				return nil, fmt.Errorf("control: %w", err)
			}
		case "md5sums":
			pkg.MD5Sums = b
		case "conffiles":
			for _, l := range strings.Split(string(b), "\n") {
				// "remove-on-upgrade /etc/x" flags precede the path
				f := strings.Fields(l)
				if len(f) > 0 && strings.HasPrefix(f[len(f)-1], "/") {
					pkg.Conffiles = append(pkg.Conffiles, f[len(f)-1])
				}
			}
			pkg.Files[n] = b
		default:
			pkg.Files[n] = b
		}
	}
	if pkg.Control.Get("Package") == "" || pkg.Control.Get("Version") == "" {
		return nil, fmt.Errorf("%w: control file without Package and Version", ErrFormat)
	}
	return pkg, nil
}
