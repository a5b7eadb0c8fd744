// Package ocilayout is the image source of OCI image layout folders
// (oci-layout, index.json, blobs/), as buildx, skopeo and crane write them.
package ocilayout

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerscan/layerscan/shared/source"
)

// Opener opens layout folders (source.KindOCILayout).
type Opener struct{}

// Open implements source.Opener: a layout is always an index (index.json).
func (Opener) Open(_ context.Context, ref source.Ref, _ source.Options) (*source.Artifact, error) {
	p, err := layout.FromPath(ref.Location)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", ref.Location, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", ref.Location, err)
	}
	return &source.Artifact{Name: refName(idx, ref.Location), Index: idx}, nil
}

// Layer implements source.Opener: the blob with that digest.
func (Opener) Layer(_ context.Context, ref source.Ref, digest v1.Hash, _ source.Options) (v1.Layer, error) {
	p, err := layout.FromPath(ref.Location)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", ref.Location, err)
	}
	st, err := os.Stat(filepath.Join(string(p), "blobs", digest.Algorithm, digest.Hex))
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: layer %s: %w", ref.Location, digest, err)
	}
	return partial.CompressedToLayer(&blob{p: p, digest: digest, size: st.Size()})
}

// blob is a layer read as stored; the layer walk tells its compression by
// its magic bytes, so the media type is nominal.
type blob struct {
	p      layout.Path
	digest v1.Hash
	size   int64
}

func (b *blob) Digest() (v1.Hash, error)            { return b.digest, nil }
func (b *blob) Compressed() (io.ReadCloser, error)  { return b.p.Blob(b.digest) }
func (b *blob) Size() (int64, error)                { return b.size, nil }
func (b *blob) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// refName names a layout's image by its org.opencontainers.image.ref.name
// annotation when that is a full reference (registry/name:tag) shared by the
// top-level manifests; else by the folder.
func refName(idx v1.ImageIndex, location string) string {
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) == 0 {
		return location
	}
	ref := m.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
	for _, d := range m.Manifests[1:] {
		if d.Annotations["org.opencontainers.image.ref.name"] != ref {
			return location
		}
	}
	if !strings.Contains(ref, "/") {
		return location // a bare tag ("1.0") names nothing on its own
	}
	return ref
}
