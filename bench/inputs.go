package main

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/layerscan/layerscan/bench/gen"
)

// input is one image as a docker-save tarball, which every tool reads,
// with its layer blobs extracted for the floor.
type input struct {
	name   string
	tar    string
	layers []string // blob files
	size   int64    // compressed bytes
}

var corpus = []string{"debian-bookworm-app", "alpine-3.9-app.tar", "ubuntu-24.04-noble", "almalinux-9.0-micro-arm64.tar",
	"rpm-cbl-mariner-2.0-sqlite.tar", "rpm-sles-15.3-ndb.tar", "rpm-rhel-8.8-bdb.tar"}

func prepareInputs(ctx context.Context, c config) ([]input, error) {
	dir := filepath.Join(c.work, "inputs")
	var out []input
	for _, img := range corpus {
		src := filepath.Join(c.shared, "corpus", "images", img)
		dst := src
		if !strings.HasSuffix(img, ".tar") {
			dst = filepath.Join(dir, img+".tar")
			if _, err := os.Stat(dst); err != nil {
				if err := layoutToTar(src, dst, "corpus.local/"+img+":1.0"); err != nil {
					return nil, err
				}
			}
		}
		in, err := withBlobs(strings.TrimSuffix(img, ".tar"), dst, filepath.Join(dir, "blobs"))
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	if !c.big {
		return out, nil
	}
	big := []struct {
		name string
		make func(dst string) error
	}{
		{"debian-large-4-layers", func(dst string) error { return debootstrapImage(ctx, dir, dst) }},
		{"files-100k", func(dst string) error {
			b, err := gen.Files(filepath.Join(dir, "files-100k.tar.gz"), 100000, 200<<20, 2)
			if err != nil {
				return err
			}
			return gen.DockerSave(dst, "bench.local/files-100k:1", []gen.Blob{b}, "")
		}},
		{"layer-1gib", func(dst string) error {
			b, err := gen.Files(filepath.Join(dir, "layer-1gib.tar.gz"), 100000, 1<<30, 1)
			if err != nil {
				return err
			}
			return gen.DockerSave(dst, "bench.local/layer-1gib:1", []gen.Blob{b}, "")
		}},
	}
	for _, b := range big {
		dst := filepath.Join(dir, b.name+".tar")
		if _, err := os.Stat(dst); err != nil {
			log.Printf("building input %s", b.name)
			if err := b.make(dst); err != nil {
				log.Printf("input %s not built: %v", b.name, err)
				continue
			}
		}
		in, err := withBlobs(b.name, dst, filepath.Join(dir, "blobs"))
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

func layoutToTar(src, dst, tag string) error {
	p, err := layout.FromPath(src)
	if err != nil {
		return err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return tarball.WriteToFile(dst, ref, img)
}

// withBlobs extracts the layer blobs of a docker-save tarball (once).
func withBlobs(name, tarPath, blobDir string) (input, error) {
	in := input{name: name, tar: tarPath}
	f, err := os.Open(tarPath)
	if err != nil {
		return in, err
	}
	defer f.Close()
	var manifest []struct{ Layers []string }
	tr := tar.NewReader(f)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return in, err
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				return in, err
			}
			continue
		}
		if h.Typeflag != tar.TypeReg || strings.HasSuffix(h.Name, ".json") {
			continue
		}
		dst := filepath.Join(blobDir, name, strings.ReplaceAll(h.Name, "/", "_"))
		files[h.Name] = dst
		if st, err := os.Stat(dst); err == nil && st.Size() == h.Size {
			continue
		}
		os.MkdirAll(filepath.Dir(dst), 0o755)
		out, err := os.Create(dst)
		if err != nil {
			return in, err
		}
		_, err = io.Copy(out, tr)
		out.Close()
		if err != nil {
			return in, err
		}
	}
	if len(manifest) != 1 {
		return in, fmt.Errorf("%s: manifest.json lists %d images", tarPath, len(manifest))
	}
	for _, l := range manifest[0].Layers {
		p, ok := files[l]
		if !ok {
			return in, fmt.Errorf("%s: layer %s missing", tarPath, l)
		}
		st, _ := os.Stat(p)
		in.size += st.Size()
		in.layers = append(in.layers, p)
	}
	return in, nil
}

// debootstrapImage builds a real Debian 12 with build-essential and python3
// (a few hundred packages) and cuts its root file system into 4 layers by
// path: /usr/share, /usr/lib, the rest of /usr, and everything else (the
// dpkg database included).
func debootstrapImage(ctx context.Context, dir, dst string) error {
	root := filepath.Join(dir, "debootstrap-rootfs")
	if _, err := os.Stat(filepath.Join(root, "var/lib/dpkg/status")); err != nil {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			return fmt.Errorf("debootstrap is not installed (apt-get install debootstrap)")
		}
		os.RemoveAll(root)
		cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include=build-essential,python3", "bookworm", root, "http://deb.debian.org/debian")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("debootstrap: %w", err)
		}
		for _, junk := range []string{"var/cache/apt/archives", "var/lib/apt/lists", "dev"} {
			ents, _ := os.ReadDir(filepath.Join(root, junk))
			for _, e := range ents {
				os.RemoveAll(filepath.Join(root, junk, e.Name()))
			}
		}
	}
	parts := []func(rel string) bool{
		func(rel string) bool { return !strings.HasPrefix(rel, "usr/") },
		func(rel string) bool { return strings.HasPrefix(rel, "usr/lib/") },
		func(rel string) bool { return strings.HasPrefix(rel, "usr/share/") },
		func(rel string) bool {
			return strings.HasPrefix(rel, "usr/") && !strings.HasPrefix(rel, "usr/lib/") && !strings.HasPrefix(rel, "usr/share/")
		},
	}
	var blobs []gen.Blob
	for i, in := range parts {
		w, err := gen.NewWriter(filepath.Join(dir, fmt.Sprintf("debootstrap-layer%d.tar.gz", i)))
		if err != nil {
			return err
		}
		err = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if rel == "." || !in(filepath.ToSlash(rel)+map[bool]string{true: "/", false: ""}[info.IsDir()]) {
				return nil
			}
			link := ""
			if info.Mode()&os.ModeSymlink != 0 {
				link, _ = os.Readlink(p)
			}
			h, err := tar.FileInfoHeader(info, link)
			if err != nil {
				return err
			}
			h.Name = filepath.ToSlash(rel)
			if info.Mode().IsRegular() {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				return w.Add(h, f)
			}
			if info.IsDir() || h.Typeflag == tar.TypeSymlink {
				return w.Add(h, nil)
			}
			return nil // devices, sockets
		})
		if err != nil {
			return err
		}
		b, err := w.Close()
		if err != nil {
			return err
		}
		blobs = append(blobs, b)
	}
	var ids []string
	for _, b := range blobs {
		ids = append(ids, `"`+b.DiffID+`"`)
	}
	cfg := `{"architecture":"amd64","os":"linux","config":{"Cmd":["bash"]},"rootfs":{"type":"layers","diff_ids":[` + strings.Join(ids, ",") + `]},"history":[{"created_by":"debootstrap minbase"},{"created_by":"usr/lib"},{"created_by":"usr/share"},{"created_by":"usr"}]}`
	return gen.DockerSave(dst, "bench.local/debian-large:1", blobs, cfg)
}

func diffIDs(in input) ([]string, error) {
	f, err := os.Open(in.tar)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var manifest []struct{ Config string }
	configs := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		// Configs are "<hex>.json" in docker save, "sha256:<hex>" from
		// go-containerregistry: keep every small file.
		if h.Size < 1<<20 {
			b, _ := io.ReadAll(tr)
			if h.Name == "manifest.json" {
				json.Unmarshal(b, &manifest)
			} else {
				configs[h.Name] = b
			}
		}
	}
	if len(manifest) != 1 {
		return nil, fmt.Errorf("%s: no manifest", in.tar)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(configs[manifest[0].Config], &cfg); err != nil {
		return nil, err
	}
	return cfg.RootFS.DiffIDs, nil
}

func blobDigest(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}
