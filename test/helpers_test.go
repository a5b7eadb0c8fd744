package test

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/layerscan/layerscan/shared/source"
)

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// tarOf builds an uncompressed layer tar of regular files, sorted by name.
func tarOf(t testing.TB, files map[string]string) []byte {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	entries := make([]tarEntry, 0, len(names))
	for _, n := range names {
		entries = append(entries, tarEntry{n, 0o644, []byte(files[n])})
	}
	return tarWithModes(t, entries...)
}

// copyDB gives a fresh store the corpus advisory DB.
func copyDB(t testing.TB, dst string) {
	src := advisoryStore(t)
	err := filepath.Walk(filepath.Join(src, "advisories"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tarEntry is one regular file of a test layer with its mode.
type tarEntry struct {
	Name string
	Mode int64
	Body []byte
}

// tarWithModes builds an uncompressed layer tar of files in the given order.
func tarWithModes(t testing.TB, entries ...tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.Name, Mode: e.Mode, Size: int64(len(e.Body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.Body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layoutOf writes an OCI layout holding one image of uncompressed layers.
func layoutOf(t testing.TB, layers ...[]byte) source.Ref {
	t.Helper()
	var ls []v1.Layer
	for _, l := range layers {
		ls = append(ls, static.NewLayer(l, types.OCIUncompressedLayer))
	}
	return layoutOfLayers(t, ls...)
}

// layoutOfLayers writes an OCI layout holding one image of these layers.
func layoutOfLayers(t testing.TB, ls ...v1.Layer) source.Ref {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return detect(t, dir)
}

// tarDir builds an uncompressed layer of every regular file under root,
// placed under prefix, with the files' own modes.
func tarDir(t testing.TB, root, prefix string) []byte {
	t.Helper()
	var entries []tarEntry
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		entries = append(entries, tarEntry{filepath.ToSlash(filepath.Join(prefix, rel)), int64(info.Mode().Perm()), b})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tarWithModes(t, entries...)
}

// detect is source.Detect of a path the test made.
func detect(t testing.TB, path string) source.Ref {
	t.Helper()
	ref, err := source.Detect(path, false)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
