// Package dockerarchive is the image source of `docker save` tarballs, in
// the classic layout (<id>/layer.tar) and in the OCI-blob layout of newer
// Docker (blobs/sha256/<hex>). Layers are read as stored, uncompressed or
// not, and never recompressed: a tarball has no manifest, so its image is
// described by a manifest made here from what the tarball holds.
package dockerarchive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerscan/layerscan/shared/source"
)

// Opener opens docker-save tarballs (source.KindDockerArchive).
type Opener struct{}

// Open implements source.Opener. The artifact's digest is the config
// digest: docker names a saved image by it, having no manifest digest.
func (Opener) Open(_ context.Context, ref source.Ref, _ source.Options) (*source.Artifact, error) {
	a, err := indexed(ref.Location)
	if err != nil {
		return nil, err
	}
	img, err := partial.CompressedToImage(a)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Location, err)
	}
	name := ref.Location
	if len(a.manifest.RepoTags) > 0 {
		name = a.manifest.RepoTags[0]
	}
	sum := sha256.Sum256(a.rawConfig)
	return &source.Artifact{Name: name, Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, Image: img}, nil
}

// Layer implements source.Opener.
func (Opener) Layer(_ context.Context, ref source.Ref, digest v1.Hash, _ source.Options) (v1.Layer, error) {
	a, err := indexed(ref.Location)
	if err != nil {
		return nil, err
	}
	l, err := a.LayerByDigest(digest)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToLayer(l)
}

// Limits on what is believed of a tarball before any layer is read.
const (
	maxMeta    = source.MaxConfigBytes // manifest.json and the config
	maxMembers = 100_000
	maxLinks   = 8
)

type saveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// member is one tar entry; offset is where its content starts in the file.
type member struct {
	typ          byte
	link         string
	offset, size int64
}

// archive is an indexed tarball; it implements partial.CompressedImageCore.
type archive struct {
	file      string
	members   map[string]member
	manifest  saveManifest
	rawConfig []byte
	config    *v1.ConfigFile
	layers    []*layer
	raw       []byte // the manifest made for it
}

// cache keeps the indexes of recently opened tarballs: every layer's job
// reopens the tarball, and indexing it again would read its headers and
// hash its compressed layers once per layer. A tarball is known by its
// path, size and modification time, so a rewritten one is indexed anew.
var cache = struct {
	sync.Mutex
	byFile map[string]*archive
	order  []string
}{byFile: map[string]*archive{}}

const cacheSize = 8

func indexed(file string) (*archive, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("docker-save tarball: %w", err)
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", file, fi.Size(), fi.ModTime().UnixNano())
	cache.Lock()
	a, ok := cache.byFile[key]
	cache.Unlock()
	if ok {
		return a, nil
	}
	a, err = open(file)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	defer cache.Unlock()
	if _, ok := cache.byFile[key]; !ok {
		cache.byFile[key] = a
		cache.order = append(cache.order, key)
		if len(cache.order) > cacheSize {
			delete(cache.byFile, cache.order[0])
			cache.order = cache.order[1:]
		}
	}
	return a, nil
}

// open indexes the tarball's members in one pass of its headers and reads
// its manifest and config.
func open(file string) (*archive, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("docker-save tarball: %w", err)
	}
	defer f.Close()
	a := &archive{file: file, members: map[string]member{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(a.members) >= maxMembers {
			return nil, fmt.Errorf("%s: more than %d members: not a docker-save tarball", file, maxMembers)
		}
		// archive/tar reads headers in whole blocks and nothing ahead, so
		// the file's position is where this member's content starts.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		a.members[path.Clean(h.Name)] = member{typ: h.Typeflag, link: h.Linkname, offset: off, size: h.Size}
	}
	b, err := a.read("manifest.json")
	if err != nil {
		return nil, fmt.Errorf("docker-save tarball: %w", err)
	}
	var ms []saveManifest
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("%s: manifest.json: %w", file, err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%s: manifest.json lists no image", file)
	}
	a.manifest = ms[0]
	if a.rawConfig, err = a.read(a.manifest.Config); err != nil {
		return nil, err
	}
	if a.config, err = v1.ParseConfigFile(bytes.NewReader(a.rawConfig)); err != nil {
		return nil, fmt.Errorf("%s: config: %w", file, err)
	}
	if len(a.config.RootFS.DiffIDs) != len(a.manifest.Layers) {
		return nil, fmt.Errorf("%s: manifest lists %d layers but the config %d diffIDs", file, len(a.manifest.Layers), len(a.config.RootFS.DiffIDs))
	}
	for i, name := range a.manifest.Layers {
		l, err := a.layer(name, a.config.RootFS.DiffIDs[i])
		if err != nil {
			return nil, err
		}
		a.layers = append(a.layers, l)
	}
	if err := a.makeManifest(); err != nil {
		return nil, err
	}
	return a, nil
}

// resolve follows symbolic and hard links (docker save links repeated layers).
func (a *archive) resolve(name string) (string, member, error) {
	name = path.Clean(name)
	for range maxLinks {
		m, ok := a.members[name]
		if !ok {
			return "", m, fmt.Errorf("%s: no member %s", a.file, name)
		}
		switch m.typ {
		case tar.TypeSymlink:
			name = path.Join(path.Dir(name), m.link)
		case tar.TypeLink:
			name = path.Clean(m.link) // hard-link targets are relative to the archive root
		default:
			return name, m, nil
		}
	}
	return "", member{}, fmt.Errorf("%s: %s: too many links", a.file, name)
}

// section opens a member's content.
func (a *archive) section(name string) (io.ReadCloser, member, error) {
	_, m, err := a.resolve(name)
	if err != nil {
		return nil, m, err
	}
	f, err := os.Open(a.file)
	if err != nil {
		return nil, m, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, m.offset, m.size), f}, m, nil
}

func (a *archive) read(name string) ([]byte, error) {
	r, m, err := a.section(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if m.size > maxMeta {
		return nil, fmt.Errorf("%s: %s is larger than %d bytes", a.file, name, maxMeta)
	}
	return io.ReadAll(r)
}

// layer describes one layer member. Its digest is that of the stored
// bytes: the name says it for OCI-blob tarballs; a member stored as plain
// tar (classic docker save) is its own uncompressed form, so its digest is
// its diffID; any other member is hashed. The layer walk verifies both.
func (a *archive) layer(name string, diffID v1.Hash) (*layer, error) {
	resolved, m, err := a.resolve(name)
	if err != nil {
		return nil, err
	}
	l := &layer{a: a, name: resolved, size: m.size}
	r, _, err := a.section(resolved)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var magic [4]byte
	n, _ := io.ReadFull(r, magic[:])
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		l.mediaType = types.DockerLayer
	case n == 4 && bytes.Equal(magic[:], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		l.mediaType = types.OCILayerZStd
	default:
		l.mediaType = types.DockerUncompressedLayer
	}
	if hexPart, ok := strings.CutPrefix(resolved, "blobs/sha256/"); ok && validHex(hexPart) {
		l.digest = v1.Hash{Algorithm: "sha256", Hex: hexPart}
		return l, nil
	}
	if l.mediaType == types.DockerUncompressedLayer {
		l.digest = diffID
		return l, nil
	}
	h := sha256.New()
	h.Write(magic[:n])
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", a.file, resolved, err)
	}
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	return l, nil
}

func validHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func (a *archive) makeManifest() error {
	sum := sha256.Sum256(a.rawConfig)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config: v1.Descriptor{
			MediaType: types.DockerConfigJSON, Size: int64(len(a.rawConfig)),
			Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
		},
	}
	for _, l := range a.layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: l.mediaType, Size: l.size, Digest: l.digest})
	}
	raw, err := json.Marshal(m)
	a.raw = raw
	return err
}

// RawConfigFile implements partial.CompressedImageCore.
func (a *archive) RawConfigFile() ([]byte, error) { return a.rawConfig, nil }

// MediaType implements partial.CompressedImageCore.
func (a *archive) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }

// RawManifest implements partial.CompressedImageCore.
func (a *archive) RawManifest() ([]byte, error) { return a.raw, nil }

// LayerByDigest implements partial.CompressedImageCore.
func (a *archive) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range a.layers {
		if l.digest == h {
			return l, nil
		}
	}
	return nil, errors.New("layer " + h.String() + " is not in " + a.file)
}

// layer is one layer member, read as stored.
type layer struct {
	a         *archive
	name      string
	digest    v1.Hash
	size      int64
	mediaType types.MediaType
}

func (l *layer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *layer) Size() (int64, error)                { return l.size, nil }
func (l *layer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *layer) Compressed() (io.ReadCloser, error) {
	r, _, err := l.a.section(l.name)
	return r, err
}
