package registry

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A docker-save tarball has no manifest digest; docker itself names such an
// image by its config digest, and so does layerscan. Layers are read from
// the tarball as stored (gzip or plain) and verified against their diffIDs.

type archiveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

const maxArchiveMeta = 16 << 20

// archiveMember returns a reader for one member of the tarball, positioned
// at its content; the returned closer closes the file.
func archiveMember(file, member string) (io.Reader, io.Closer, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	tr := tar.NewReader(f)
	want := path.Clean(member)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			f.Close()
			return nil, nil, fmt.Errorf("%s: no member %s", file, member)
		}
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		if path.Clean(h.Name) == want {
			if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
				f.Close()
				return archiveMember(file, path.Join(path.Dir(want), h.Linkname))
			}
			return tr, f, nil
		}
	}
}

func readMember(file, member string) ([]byte, error) {
	r, c, err := archiveMember(file, member)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxArchiveMeta+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxArchiveMeta {
		return nil, fmt.Errorf("%s: %s is larger than %d bytes", file, member, maxArchiveMeta)
	}
	return b, nil
}

func readArchiveManifest(file string) (*archiveManifest, error) {
	b, err := readMember(file, "manifest.json")
	if err != nil {
		return nil, fmt.Errorf("docker-save tarball: %w", err)
	}
	var ms []archiveManifest
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("%s: manifest.json: %w", file, err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%s: manifest.json lists no image", file)
	}
	return &ms[0], nil
}

func openArchive(src Source) (*Image, error) {
	m, err := readArchiveManifest(src.Location)
	if err != nil {
		return nil, err
	}
	raw, err := readMember(src.Location, m.Config)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", src.Location, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("%s: manifest lists %d layers but the config %d diffIDs", src.Location, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	sum := sha256.Sum256(raw)
	ref := src.Location
	if len(m.RepoTags) > 0 {
		ref = m.RepoTags[0]
	}
	im := &Image{Source: src, Ref: ref, Digest: "sha256:" + hex.EncodeToString(sum[:]), Config: cfg, RawConfig: raw, Platform: platformOf(cfg)}
	created := createdBy(cfg)
	for i := range m.Layers {
		im.Layers = append(im.Layers, LayerRef{Index: i, DiffID: cfg.RootFS.DiffIDs[i].String(), CreatedBy: at(created, i)})
	}
	return im, nil
}

func openArchiveLayer(file, diffID string) (io.ReadCloser, error) {
	m, err := readArchiveManifest(file)
	if err != nil {
		return nil, err
	}
	raw, err := readMember(file, m.Config)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	for i, d := range cfg.RootFS.DiffIDs {
		if d.String() == diffID && i < len(m.Layers) {
			r, c, err := archiveMember(file, m.Layers[i])
			if err != nil {
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{r, c}, nil
		}
	}
	return nil, errors.New("layer " + diffID + " is not in " + file)
}
