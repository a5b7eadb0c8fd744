// Package gen builds benchmark inputs: layers of generated files and
// docker-save tarballs around layer blobs, streamed so that a 1 GiB layer
// never sits in memory.
package gen

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Blob is a gzip layer blob on disk.
type Blob struct {
	Path   string
	Digest string // sha256 of the blob
	DiffID string // sha256 of the uncompressed tar
	Size   int64  // uncompressed bytes of file content
}

// words make generated files look like text and configs: gzip shrinks them
// about as much as real layers, and keyword prefilters see real keywords.
var words = strings.Fields(`the of and to in is for on with as config value server port host user name path
file data error info debug log true false null default enable disable timeout retry token password secret key
listen address version release build module package import export function return class public private`)

// Writer builds one layer blob.
type Writer struct {
	f       *os.File
	blobH   io.Writer
	diffH   io.Writer
	blobSum func() []byte
	diffSum func() []byte
	zw      *gzip.Writer
	bw      *bufio.Writer
	tw      *tar.Writer
	path    string
	size    int64
}

// NewWriter starts a gzip layer blob at path.
func NewWriter(path string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return nil, err
	}
	bh, dh := sha256.New(), sha256.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(f, bh), gzip.BestSpeed)
	bw := bufio.NewWriterSize(io.MultiWriter(zw, dh), 1<<20)
	return &Writer{f: f, blobH: bh, diffH: dh, blobSum: func() []byte { return bh.Sum(nil) }, diffSum: func() []byte { return dh.Sum(nil) },
		zw: zw, bw: bw, tw: tar.NewWriter(bw), path: path}, nil
}

// Add writes one entry; body is nil for directories and links.
func (w *Writer) Add(h *tar.Header, body io.Reader) error {
	if err := w.tw.WriteHeader(h); err != nil {
		return err
	}
	if body != nil && h.Typeflag == tar.TypeReg {
		n, err := io.Copy(w.tw, body)
		w.size += n
		return err
	}
	return nil
}

// File writes a regular file.
func (w *Writer) File(name string, mode int64, b []byte) error {
	return w.Add(&tar.Header{Name: name, Mode: mode, Size: int64(len(b)), Typeflag: tar.TypeReg}, strings.NewReader(string(b)))
}

// Close finishes the blob.
func (w *Writer) Close() (Blob, error) {
	if err := w.tw.Close(); err != nil {
		return Blob{}, err
	}
	if err := w.bw.Flush(); err != nil {
		return Blob{}, err
	}
	if err := w.zw.Close(); err != nil {
		return Blob{}, err
	}
	if err := w.f.Close(); err != nil {
		return Blob{}, err
	}
	if err := os.Rename(w.path+".tmp", w.path); err != nil {
		return Blob{}, err
	}
	return Blob{Path: w.path, Digest: "sha256:" + hex.EncodeToString(w.blobSum()), DiffID: "sha256:" + hex.EncodeToString(w.diffSum()), Size: w.size}, nil
}

// Files writes a layer of n generated files totalling about total bytes:
// nine in ten are config-like text, one in ten random bytes.
func Files(path string, n int, total int64, seed int64) (Blob, error) {
	w, err := NewWriter(path)
	if err != nil {
		return Blob{}, err
	}
	rng := rand.New(rand.NewSource(seed))
	per := total / int64(n)
	buf := make([]byte, 0, 4*per+64)
	for i := 0; i < n; i++ {
		sz := per/2 + rng.Int63n(per+1)
		buf = buf[:0]
		name := fmt.Sprintf("srv/app/d%03d/f%06d.txt", i%500, i)
		if i%10 == 0 {
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
		if err := w.File(name, 0o644, buf); err != nil {
			return Blob{}, err
		}
	}
	return w.Close()
}

// DockerSave writes a docker-save tarball of gzip layer blobs, bottom
// first, streaming each blob.
func DockerSave(dst, tag string, layers []Blob, config string) error {
	if config == "" {
		var ids []string
		for _, l := range layers {
			ids = append(ids, `"`+l.DiffID+`"`)
		}
		config = `{"architecture":"amd64","os":"linux","config":{"User":"app","Cmd":["/srv/app/run"]},"rootfs":{"type":"layers","diff_ids":[` + strings.Join(ids, ",") + `]},"history":[]}`
	}
	sum := sha256.Sum256([]byte(config))
	cfgName := hex.EncodeToString(sum[:]) + ".json"
	var names []string
	for _, l := range layers {
		names = append(names, `"`+strings.TrimPrefix(l.Digest, "sha256:")+`/layer.tar.gz"`)
	}
	manifest := `[{"Config":"` + cfgName + `","RepoTags":["` + tag + `"],"Layers":[` + strings.Join(names, ",") + `]}]`
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst + ".tmp")
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, r io.Reader, size int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add("manifest.json", strings.NewReader(manifest), int64(len(manifest))); err != nil {
		return err
	}
	if err := add(cfgName, strings.NewReader(config), int64(len(config))); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, l := range layers {
		name := strings.TrimPrefix(l.Digest, "sha256:") + "/layer.tar.gz"
		if seen[name] {
			continue
		}
		seen[name] = true
		b, err := os.Open(l.Path)
		if err != nil {
			return err
		}
		st, _ := b.Stat()
		err = add(name, b, st.Size())
		b.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	f.Close()
	return os.Rename(dst+".tmp", dst)
}
