// Package registry opens images from a registry reference, an OCI layout
// folder or a docker-save tarball, and opens single layer blobs again by
// digest, so that a worker elsewhere can analyse one layer with nothing but
// a Source and a digest.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Source kinds.
const (
	KindRegistry      = "registry"
	KindOCILayout     = "oci-layout"
	KindDockerArchive = "docker-archive"
)

// Source says where an image lives; it is small and serialisable.
type Source struct {
	Kind     string `json:"kind"`
	Location string `json:"location"`
	Insecure bool   `json:"insecure,omitempty"`
}

// Options tune how sources are opened.
type Options struct {
	// Platform such as linux/amd64 selects from an index; ignored for single images.
	Platform string
	// AllPlatforms returns every image of an index.
	AllPlatforms bool
	Keychain     authn.Keychain
	Transport    http.RoundTripper
}

// LayerRef is one layer of an image, bottom first.
type LayerRef struct {
	Index     int    `json:"index"`
	Digest    string `json:"digest,omitempty"`
	DiffID    string `json:"diffID"`
	MediaType string `json:"mediaType,omitempty"`
	Size      int64  `json:"size,omitempty"`
	CreatedBy string `json:"createdBy,omitempty"`
}

// Image is one platform image with everything planning needs.
type Image struct {
	Source Source
	// Ref is what the user named; Digest the manifest digest (the config
	// digest for a docker-save tarball, which has no manifest).
	Ref       string
	Digest    string
	Platform  string
	Config    *v1.ConfigFile
	RawConfig []byte
	Layers    []LayerRef
}

// Detect decides the kind of a command-line argument: an existing folder
// holding oci-layout, an existing file (a docker-save tarball), or else a
// registry reference.
func Detect(arg string, insecure bool) Source {
	if st, err := os.Stat(arg); err == nil {
		abs, _ := filepath.Abs(arg)
		if st.IsDir() {
			return Source{Kind: KindOCILayout, Location: abs}
		}
		return Source{Kind: KindDockerArchive, Location: abs}
	}
	return Source{Kind: KindRegistry, Location: arg, Insecure: insecure}
}

func (o Options) remoteOptions(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

func nameOptions(src Source) []name.Option {
	if src.Insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// Open resolves a source into one image per selected platform.
func Open(ctx context.Context, src Source, o Options) ([]*Image, error) {
	switch src.Kind {
	case KindRegistry:
		return openRemote(ctx, src, o)
	case KindOCILayout:
		return openLayout(src, o)
	case KindDockerArchive:
		im, err := openArchive(src)
		if err != nil {
			return nil, err
		}
		return []*Image{im}, nil
	}
	return nil, fmt.Errorf("unknown source kind %q", src.Kind)
}

func openRemote(ctx context.Context, src Source, o Options) ([]*Image, error) {
	ref, err := name.ParseReference(src.Location, nameOptions(src)...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", src.Location, err)
	}
	desc, err := remote.Get(ref, o.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", ref, err)
	}
	pin := func(d v1.Hash) string { return ref.Context().Digest(d.String()).String() }
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return fromIndex(idx, o, func(d v1.Hash) (v1.Image, error) {
			r, _ := name.NewDigest(pin(d), nameOptions(src)...)
			return remote.Image(r, o.remoteOptions(ctx)...)
		}, src, src.Location)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	im, err := describe(img, src, src.Location, desc.Digest.String())
	if err != nil {
		return nil, err
	}
	return []*Image{im}, nil
}

func openLayout(src Source, o Options) ([]*Image, error) {
	p, err := layout.FromPath(src.Location)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", src.Location, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", src.Location, err)
	}
	return fromIndex(idx, o, idx.Image, src, layoutRef(idx, src.Location))
}

// layoutRef names a layout's image by its org.opencontainers.image.ref.name
// annotation when that is a full reference (registry/name:tag) shared by the
// top-level manifests; else by the folder.
func layoutRef(idx v1.ImageIndex, location string) string {
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

// fromIndex walks an index (nested indexes included) and opens the images
// of the selected platform(s). A top-level index of exactly one image with no
// platform recorded, as an OCI layout often is, yields that image.
func fromIndex(idx v1.ImageIndex, o Options, open func(v1.Hash) (v1.Image, error), src Source, ref string) ([]*Image, error) {
	want := o.Platform
	if want == "" {
		want = "linux/amd64"
	}
	wantP, err := v1.ParsePlatform(want)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", want, err)
	}
	type cand struct {
		d v1.Hash
		p *v1.Platform
	}
	var cands []cand
	var walk func(ix v1.ImageIndex, depth int) error
	walk = func(ix v1.ImageIndex, depth int) error {
		if depth > 4 {
			return errors.New("image index nested too deeply")
		}
		m, err := ix.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range m.Manifests {
			switch {
			case d.MediaType.IsIndex():
				child, err := ix.ImageIndex(d.Digest)
				if err != nil {
					return err
				}
				if err := walk(child, depth+1); err != nil {
					return err
				}
			case d.MediaType.IsImage():
				// attestation manifests of buildx carry platform unknown/unknown
				if d.Platform != nil && d.Platform.OS == "unknown" {
					continue
				}
				cands = append(cands, cand{d.Digest, d.Platform})
			}
		}
		return nil
	}
	if err := walk(idx, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	var picked []cand
	var seen []string
	for _, c := range cands {
		if c.p == nil {
			seen = append(seen, "(unspecified)")
		} else {
			seen = append(seen, c.p.String())
		}
		if o.AllPlatforms || (c.p != nil && c.p.Satisfies(*wantP)) {
			picked = append(picked, c)
		}
	}
	if len(picked) == 0 && len(cands) == 1 && (cands[0].p == nil || o.Platform == "") {
		picked = cands // a lone image: scan it whatever its platform
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("%s: no image for platform %s (available: %s)", ref, want, strings.Join(seen, ", "))
	}
	var out []*Image
	for _, c := range picked {
		img, err := open(c.d)
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %w", ref, c.d, err)
		}
		im, err := describe(img, src, ref, c.d.String())
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, nil
}

// describe reads config and layers of one image.
func describe(img v1.Image, src Source, ref, digest string) (*Image, error) {
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", ref, err)
	}
	if len(m.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%s: manifest lists %d layers but the config %d diffIDs", ref, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	im := &Image{Source: src, Ref: ref, Digest: digest, Config: cfg, RawConfig: raw, Platform: platformOf(cfg)}
	created := createdBy(cfg)
	for i, l := range m.Layers {
		im.Layers = append(im.Layers, LayerRef{
			Index: i, Digest: l.Digest.String(), DiffID: cfg.RootFS.DiffIDs[i].String(),
			MediaType: string(l.MediaType), Size: l.Size, CreatedBy: at(created, i),
		})
	}
	return im, nil
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// createdBy lists the history line of each non-empty layer in order.
func createdBy(cfg *v1.ConfigFile) []string {
	var out []string
	for _, h := range cfg.History {
		if !h.EmptyLayer {
			out = append(out, h.CreatedBy)
		}
	}
	return out
}

func platformOf(cfg *v1.ConfigFile) string {
	p := cfg.OS + "/" + cfg.Architecture
	if cfg.Variant != "" {
		p += "/" + cfg.Variant
	}
	return p
}

// OpenBlob opens one layer blob of a source as stored (compressed for
// registries and OCI layouts; as saved for docker-save tarballs, where
// digest may be empty and diffID names the layer).
func OpenBlob(ctx context.Context, src Source, digest, diffID string, o Options) (io.ReadCloser, error) {
	switch src.Kind {
	case KindRegistry:
		ref, err := name.ParseReference(src.Location, nameOptions(src)...)
		if err != nil {
			return nil, err
		}
		d, err := name.NewDigest(ref.Context().String()+"@"+digest, nameOptions(src)...)
		if err != nil {
			return nil, err
		}
		l, err := remote.Layer(d, o.remoteOptions(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", digest, err)
		}
		return l.Compressed()
	case KindOCILayout:
		p, err := layout.FromPath(src.Location)
		if err != nil {
			return nil, err
		}
		h, err := v1.NewHash(digest)
		if err != nil {
			return nil, err
		}
		return p.Blob(h)
	case KindDockerArchive:
		return openArchiveLayer(src.Location, diffID)
	}
	return nil, fmt.Errorf("unknown source kind %q", src.Kind)
}

// Resolve returns the manifest digest a registry reference names now (a
// HEAD request; a GET when the registry answers HEAD without a digest).
// Push events name tags; every stored result is keyed by digest.
func Resolve(ctx context.Context, ref string, insecure bool, o Options) (string, error) {
	src := Source{Kind: KindRegistry, Location: ref, Insecure: insecure}
	r, err := name.ParseReference(ref, nameOptions(src)...)
	if err != nil {
		return "", fmt.Errorf("reference %q: %w", ref, err)
	}
	if d, ok := r.(name.Digest); ok {
		return d.DigestStr(), nil
	}
	if desc, err := remote.Head(r, o.remoteOptions(ctx)...); err == nil && desc.Digest.Hex != "" {
		return desc.Digest.String(), nil
	}
	desc, err := remote.Get(r, o.remoteOptions(ctx)...)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	return desc.Digest.String(), nil
}

// Repositories lists a registry's repositories (the v2 catalog API) and
// Tags one repository's tags; periodic scans enumerate with them.
func Repositories(ctx context.Context, host string, insecure bool, o Options) ([]string, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return nil, err
	}
	return remote.Catalog(ctx, reg, o.remoteOptions(ctx)...)
}

// Tags lists the tags of host/repository.
func Tags(ctx context.Context, repo string, insecure bool, o Options) ([]string, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(repo, opts...)
	if err != nil {
		return nil, err
	}
	return remote.List(r, o.remoteOptions(ctx)...)
}
