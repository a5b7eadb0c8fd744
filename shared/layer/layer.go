// Package layer walks one layer blob in a single streaming pass: it verifies
// the blob digest and the diffID while reading, decompresses gzip, zstd or
// plain tar, enforces caps, normalises paths and records whiteouts. Memory
// does not grow with the layer: only the current entry is in flight.
package layer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Version changes whenever a walk of the same blob may yield other
// entries (path cleaning, what is refused, compressions read); it is part
// of the analyzer-set version that keys cached facts.
const Version = 2

// Limits bound what one layer may cost. A layer that exceeds one fails with
// an error wrapping ErrLimit; it is never half-analysed silently.
type Limits struct {
	// MaxUncompressedBytes caps the decompressed stream (decompression bombs).
	MaxUncompressedBytes int64
	// MaxEntries caps the number of tar entries.
	MaxEntries int64
	// MaxPathLen caps one entry's path length.
	MaxPathLen int
}

// DefaultLimits suit real images: the largest public images stay far below.
var DefaultLimits = Limits{
	MaxUncompressedBytes: 64 << 30,
	MaxEntries:           5_000_000,
	MaxPathLen:           4096,
}

// ErrLimit marks a layer that exceeded one of its Limits.
var ErrLimit = errors.New("layer exceeds a safety limit")

// ErrDigest marks a layer whose bytes do not match its digest or diffID.
var ErrDigest = errors.New("layer digest mismatch")

// Entry is one tar entry with a normalised path: relative, cleaned, no
// leading slash, never escaping the root.
type Entry struct {
	Path   string
	Header *tar.Header
}

// Result is what the pass saw besides the files it handed out.
type Result struct {
	Whiteouts         []string
	OpaqueDirs        []string
	Entries           int64
	CompressedBytes   int64
	UncompressedBytes int64
	Compression       string
	// Unsafe lists entries refused because their path or link escapes the
	// root (a "../" name or hard-link target) or is too long.
	Unsafe []string
	// UnsafeMore counts refused entries beyond those listed.
	UnsafeMore int
	// DigestHex and DiffIDHex are the sha256 of the stored and uncompressed bytes.
	DigestHex, DiffIDHex string
}

// Expect names the digests the stream must have; an empty field is not checked.
// The stored bytes must hash to Digest, or, for a layer stored uncompressed
// (docker save), to DiffID.
type Expect struct {
	Digest string // "sha256:…"
	DiffID string // "sha256:…"
}

// VisitFunc receives each regular file, symlink and hard link. r reads the
// file's content (empty for links); it need not be read to the end.
type VisitFunc func(e Entry, r io.Reader) error

// hashCounter hashes and counts what passes through it.
type hashCounter struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	limit int64
}

func (c *hashCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.h.Write(p[:n])
	if c.limit > 0 && c.n > c.limit {
		return n, fmt.Errorf("%w: more than %d decompressed bytes", ErrLimit, c.limit)
	}
	return n, err
}

// maxUnsafe caps the refused entries listed; the rest are counted.
const maxUnsafe = 100

// refuse records a refused entry, listing the first maxUnsafe.
func (r *Result) refuse(what string) {
	if len(r.Unsafe) < maxUnsafe {
		r.Unsafe = append(r.Unsafe, what)
		return
	}
	r.UnsafeMore++
}

// pass is the state of one walk: the stored stream, the decompressed one
// and what was seen.
type pass struct {
	in, out *hashCounter
	br      *bufio.Reader
	res     *Result
	want    Expect
	lim     Limits
}

// Walk streams stored (the blob as the registry serves it) and calls visit
// for each file. It returns an error for corrupt, truncated, oversized or
// mismatching layers; the caller records that as a failed layer.
func Walk(ctx context.Context, stored io.Reader, want Expect, lim Limits, visit VisitFunc) (*Result, error) {
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	w := &pass{in: &hashCounter{r: stored, h: sha256.New()}, res: &Result{}, want: want, lim: lim}
	w.br = bufio.NewReaderSize(w.in, 64<<10)
	dec, closeDec, err := w.decompress()
	if err != nil {
		return w.res, err
	}
	defer closeDec()
	w.out = &hashCounter{r: dec, h: sha256.New(), limit: lim.MaxUncompressedBytes}
	tr := tar.NewReader(w.out)
	for {
		if err := ctx.Err(); err != nil {
			return w.res, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return w.res, w.verify()
		}
		if err != nil {
			return w.res, fmt.Errorf("tar entry %d: %w", w.res.Entries+1, wrapRead(err))
		}
		e, ok, err := w.entry(hdr)
		if err != nil {
			return w.res, err
		}
		if !ok {
			continue
		}
		if err := visit(e, tr); err != nil {
			return w.res, fmt.Errorf("%s: %w", e.Path, wrapRead(err))
		}
	}
}

// decompress picks the decompressor by the stream's magic bytes.
func (w *pass) decompress() (io.Reader, func(), error) {
	magic, _ := w.br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		w.res.Compression = "gzip"
		zr, err := gzip.NewReader(w.br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip header: %w", err)
		}
		zr.Multistream(false)
		return &gzipMembers{br: w.br, zr: zr}, func() { zr.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		w.res.Compression = "zstd"
		zr, err := zstd.NewReader(w.br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30), zstd.WithDecoderMaxWindow(1<<28))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd header: %w", err)
		}
		return zr, zr.Close, nil
	}
	w.res.Compression = "none"
	return w.br, func() {}, nil
}

// entry applies the limits to one header, records whiteouts and refused
// names, and says whether the entry goes to the visitor.
func (w *pass) entry(hdr *tar.Header) (Entry, bool, error) {
	res, lim := w.res, w.lim
	res.Entries++
	if lim.MaxEntries > 0 && res.Entries > lim.MaxEntries {
		return Entry{}, false, fmt.Errorf("%w: more than %d entries", ErrLimit, lim.MaxEntries)
	}
	if lim.MaxPathLen > 0 && len(hdr.Name) > lim.MaxPathLen {
		res.refuse(fmt.Sprintf("path longer than %d bytes: %.80s…", lim.MaxPathLen, hdr.Name))
		return Entry{}, false, nil
	}
	p, ok := CleanPath(hdr.Name)
	if !ok {
		res.refuse("path escapes the root: " + hdr.Name)
		return Entry{}, false, nil
	}
	if p == "" {
		return Entry{}, false, nil // the root itself
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(base, ".wh.") {
		if base == ".wh..wh..opq" {
			res.OpaqueDirs = append(res.OpaqueDirs, dir)
		} else {
			res.Whiteouts = append(res.Whiteouts, path.Join(dir, strings.TrimPrefix(base, ".wh.")))
		}
		return Entry{}, false, nil
	}
	switch hdr.Typeflag {
	case tar.TypeLink:
		if _, ok := CleanPath(hdr.Linkname); !ok {
			res.refuse("hard link escapes the root: " + hdr.Name + " -> " + hdr.Linkname)
			return Entry{}, false, nil
		}
	case tar.TypeReg, tar.TypeSymlink, tar.TypeDir:
	default:
		return Entry{}, false, nil // devices, fifos: nothing to analyse
	}
	return Entry{Path: p, Header: hdr}, true, nil
}

// verify drains tar padding and any trailing bytes so both hashes cover the
// whole stream, then compares them with what was expected.
func (w *pass) verify() error {
	if _, err := io.Copy(io.Discard, w.out); err != nil {
		return wrapRead(err)
	}
	if _, err := io.Copy(io.Discard, w.br); err != nil {
		return wrapRead(err)
	}
	res, want := w.res, w.want
	res.CompressedBytes, res.UncompressedBytes = w.in.n, w.out.n
	res.DigestHex = hex.EncodeToString(w.in.h.Sum(nil))
	res.DiffIDHex = hex.EncodeToString(w.out.h.Sum(nil))
	storedOK := want.Digest == "" || want.Digest == "sha256:"+res.DigestHex
	if !storedOK && res.Compression == "none" && want.DiffID == "sha256:"+res.DigestHex {
		storedOK = true
	}
	if !storedOK {
		return fmt.Errorf("%w: blob is sha256:%s, expected %s", ErrDigest, res.DigestHex, want.Digest)
	}
	if want.DiffID != "" && want.DiffID != "sha256:"+res.DiffIDHex {
		return fmt.Errorf("%w: uncompressed content is sha256:%s, expected diffID %s", ErrDigest, res.DiffIDHex, want.DiffID)
	}
	return nil
}

// gzipMembers reads concatenated gzip members, and stops at trailing zero
// padding, which some tools write after the last member and container
// runtimes accept; anything else after a member is an error.
type gzipMembers struct {
	br   *bufio.Reader
	zr   *gzip.Reader
	done bool
	err  error // kept: a reader may drop an error that came with data
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	for !g.done {
		n, err := g.zr.Read(p)
		if err != io.EOF {
			return n, err
		}
		next, _ := g.br.Peek(2)
		switch {
		case len(next) == 0:
			g.done = true
		case len(next) == 2 && next[0] == 0x1f && next[1] == 0x8b:
			if err := g.zr.Reset(g.br); err != nil {
				g.err = fmt.Errorf("gzip member header: %w", err)
				return n, g.err
			}
			g.zr.Multistream(false)
		default:
			if err := onlyZeros(g.br); err != nil {
				g.err = err
				return n, err
			}
			g.done = true
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, io.EOF
}

// onlyZeros reads the rest of r and fails on any byte that is not zero.
func onlyZeros(r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		for _, b := range buf[:n] {
			if b != 0 {
				return errors.New("data after the gzip stream that is not zero padding")
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// wrapRead gives truncated streams a clearer error.
func wrapRead(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("layer stream truncated or corrupt: %w", err)
	}
	return err
}

// CleanPath turns a tar name into a root-relative path. It reports false for
// names that climb out of the root; a leading "/" or "./" is dropped, as
// every container runtime does.
func CleanPath(name string) (string, bool) {
	// Relative to the root, a name escapes only if, cleaned, it climbs
	// above it: "./a/../b" is "b"; "a/../../etc/passwd" escapes.
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	if p == "." {
		return "", true
	}
	return p, true
}
