// Package source is the Registry port: where an image comes from. A Ref
// names an image source small enough to travel in a job; an Opener of the
// Ref's kind turns it into go-containerregistry's v1.Image or
// v1.ImageIndex, and reopens a single layer by digest so that a worker
// elsewhere can analyse it with nothing but the Ref. The pipeline reads
// Manifest(), ConfigFile() and Layer(...).Compressed() and never asks what
// kind of source it has.
//
// The openers are siblings, as go-containerregistry's remote, layout and
// tarball are: shared/registry (registries), shared/ocilayout (OCI layout
// folders) and shared/dockerarchive (docker-save tarballs).
package source

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Kinds of sources.
const (
	KindRegistry      = "registry"
	KindOCILayout     = "oci-layout"
	KindDockerArchive = "docker-archive"
)

// Ref says where an image lives; it is small and serialisable.
type Ref struct {
	Kind     string `json:"kind"`
	Location string `json:"location"`
	// Insecure allows plain HTTP to the registry (loopback test registries).
	Insecure bool `json:"insecure,omitempty"`
}

// Options tune how a source is opened; build them with the With functions.
type Options struct {
	// Platform such as linux/amd64 selects from an index; ignored for single images.
	Platform string
	// AllPlatforms selects every image of an index.
	AllPlatforms bool
	// Keychain authenticates to registries; nil means the Docker config.
	Keychain authn.Keychain
	// Transport carries registry requests; nil means the default.
	Transport http.RoundTripper
	// PageSize asks listings (catalog, tags) for pages of this many
	// entries; 0 leaves the client's default.
	PageSize int
}

// MaxConfigBytes caps an image config, whatever the source: real ones are
// kilobytes; a 60 MB one is an attack on memory and on the store, where
// configs are kept.
const MaxConfigBytes = 16 << 20

// Option sets one of the Options.
type Option func(*Options)

// WithAuth authenticates registry requests from kc.
func WithAuth(kc authn.Keychain) Option { return func(o *Options) { o.Keychain = kc } }

// WithTransport sends registry requests through rt.
func WithTransport(rt http.RoundTripper) Option { return func(o *Options) { o.Transport = rt } }

// WithPlatform selects the platform p (os/arch[/variant]) from an index;
// empty means linux/amd64.
func WithPlatform(p string) Option { return func(o *Options) { o.Platform = p } }

// WithAllPlatforms selects every image of an index.
func WithAllPlatforms(all bool) Option { return func(o *Options) { o.AllPlatforms = all } }

// Apply folds options into Options.
func Apply(opts ...Option) Options {
	var o Options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Artifact is what a Ref names: one image or an index of images.
type Artifact struct {
	// Name is how reports name it: the reference, a layout's ref.name
	// annotation, a tarball's first RepoTag.
	Name string
	// Digest identifies Image: its manifest digest, or, for a docker-save
	// tarball, which has no manifest, its config digest (docker's image ID).
	Digest v1.Hash
	Image  v1.Image
	Index  v1.ImageIndex
}

// Opener opens the sources of one kind.
type Opener interface {
	// Open returns the image or index ref names.
	Open(ctx context.Context, ref Ref, o Options) (*Artifact, error)
	// Layer returns one layer of the image ref names by its digest, without
	// reading the image's manifest again.
	Layer(ctx context.Context, ref Ref, digest v1.Hash, o Options) (v1.Layer, error)
}

// Openers is an Opener for several kinds, picking by Ref.Kind.
type Openers map[string]Opener

func (m Openers) pick(ref Ref) (Opener, error) {
	op, ok := m[ref.Kind]
	if !ok {
		return nil, fmt.Errorf("no opener for image source kind %q", ref.Kind)
	}
	return op, nil
}

// Open implements Opener.
func (m Openers) Open(ctx context.Context, ref Ref, o Options) (*Artifact, error) {
	op, err := m.pick(ref)
	if err != nil {
		return nil, err
	}
	return op.Open(ctx, ref, o)
}

// Layer implements Opener.
func (m Openers) Layer(ctx context.Context, ref Ref, digest v1.Hash, o Options) (v1.Layer, error) {
	op, err := m.pick(ref)
	if err != nil {
		return nil, err
	}
	return op.Layer(ctx, ref, digest, o)
}

// Detect decides the kind of a command-line argument: an existing folder
// (an OCI layout), an existing file (a docker-save tarball), or else a
// registry reference. An argument written as a path (/…, ./…, ../…, ~/…,
// or a name ending in .tar) that does not exist is an error, not a
// registry to try.
func Detect(arg string, insecure bool) (Ref, error) {
	st, err := os.Stat(arg)
	if err == nil {
		abs, _ := filepath.Abs(arg)
		if st.IsDir() {
			return Ref{Kind: KindOCILayout, Location: abs}, nil
		}
		return Ref{Kind: KindDockerArchive, Location: abs}, nil
	}
	if looksLikePath(arg) {
		return Ref{}, fmt.Errorf("%s: %w", arg, err)
	}
	return Ref{Kind: KindRegistry, Location: arg, Insecure: insecure}, nil
}

func looksLikePath(arg string) bool {
	for _, p := range []string{"/", "./", "../", "~/", ".\\", "..\\"} {
		if strings.HasPrefix(arg, p) {
			return true
		}
	}
	if arg == "." || arg == ".." {
		return true
	}
	lower := strings.ToLower(arg)
	return !strings.ContainsAny(arg, ":@") && (strings.HasSuffix(lower, ".tar") || strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".tgz"))
}

// AuthorizationKeychain answers every registry with one Authorization
// header value ("Bearer …" or "Basic …"), as a caller lent it for a scan.
func AuthorizationKeychain(header string) authn.Keychain { return authorization(header) }

type authorization string

func (a authorization) Resolve(authn.Resource) (authn.Authenticator, error) {
	scheme, value, _ := strings.Cut(string(a), " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		return &authn.Bearer{Token: value}, nil
	case "basic":
		return authn.FromConfig(authn.AuthConfig{Auth: value}), nil
	}
	return authn.Anonymous, nil
}
