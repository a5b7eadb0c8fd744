// Package registry is the image source of registries speaking the OCI
// distribution API: it opens images and indexes by reference, reopens one
// layer blob by digest, resolves tags to digests and lists repositories
// and tags for periodic scans.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/layerscan/layerscan/shared/source"
)

// Opener opens registry references (source.KindRegistry).
type Opener struct{}

func remoteOptions(ctx context.Context, o source.Options) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithRetryStatusCodes(retryStatusCodes...)}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	if o.PageSize > 0 {
		opts = append(opts, remote.WithPageSize(o.PageSize))
	}
	return opts
}

// retryStatusCodes are go-containerregistry's defaults plus 429: a
// throttling registry is waited for (1 s, then 3 s) before a scan fails.
var retryStatusCodes = []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// Error is a registry's error answer, without its body: a registry's (or
// an attacker's) text is never reflected to callers.
type Error struct {
	Status int
	Method string
	URL    string // without the query, which may hold signed tokens
}

func (e *Error) Error() string {
	return fmt.Sprintf("registry answered %d %s to %s %s", e.Status, http.StatusText(e.Status), e.Method, e.URL)
}

// sanitize replaces go-containerregistry's transport errors, which quote
// the registry's answer, by an Error.
func sanitize(err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	e := &Error{Status: te.StatusCode}
	if te.Request != nil {
		u := *te.Request.URL
		u.RawQuery, u.User = "", nil
		e.Method, e.URL = te.Request.Method, u.String()
	}
	return e
}

func nameOptions(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// Open implements source.Opener.
func (Opener) Open(ctx context.Context, ref source.Ref, o source.Options) (*source.Artifact, error) {
	r, err := name.ParseReference(ref.Location, nameOptions(ref.Insecure)...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref.Location, err)
	}
	desc, err := remote.Get(r, remoteOptions(ctx, o)...)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", r, sanitize(err))
	}
	a := &source.Artifact{Name: ref.Location, Digest: desc.Digest}
	if desc.MediaType.IsIndex() {
		a.Index, err = desc.ImageIndex()
	} else {
		a.Image, err = desc.Image()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, sanitize(err))
	}
	return a, nil
}

// Layer implements source.Opener: the blob of ref's repository with that digest.
func (Opener) Layer(ctx context.Context, ref source.Ref, digest v1.Hash, o source.Options) (v1.Layer, error) {
	r, err := name.ParseReference(ref.Location, nameOptions(ref.Insecure)...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref.Location, err)
	}
	l, err := remote.Layer(r.Context().Digest(digest.String()), remoteOptions(ctx, o)...)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", digest, sanitize(err))
	}
	return sanitizedLayer{l}, nil
}

// sanitizedLayer fetches its blob on Compressed, whose errors quote the
// registry too.
type sanitizedLayer struct{ v1.Layer }

func (l sanitizedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	return rc, sanitize(err)
}

// Split returns the registry host and the repository an image reference
// names, as go-containerregistry reads it (Docker Hub for a reference
// without a host, library/ for its official images).
func Split(ref string) (host, repository string, err error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return r.Context().RegistryStr(), r.Context().RepositoryStr(), nil
}

// Resolve returns the manifest digest a registry reference names now (a
// HEAD request; a GET when the registry answers HEAD without a digest).
// Push events name tags; every stored result is keyed by digest.
func Resolve(ctx context.Context, ref string, insecure bool, o source.Options) (string, error) {
	r, err := name.ParseReference(ref, nameOptions(insecure)...)
	if err != nil {
		return "", fmt.Errorf("reference %q: %w", ref, err)
	}
	if d, ok := r.(name.Digest); ok {
		return d.DigestStr(), nil
	}
	if desc, err := remote.Head(r, remoteOptions(ctx, o)...); err == nil && desc.Digest.Hex != "" {
		return desc.Digest.String(), nil
	}
	desc, err := remote.Get(r, remoteOptions(ctx, o)...)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, sanitize(err))
	}
	return desc.Digest.String(), nil
}

// Listing bounds: a hostile registry could answer with Link headers
// forever, or with pages of millions of names.
const (
	MaxListPages   = 10_000
	MaxListEntries = 100_000
)

// Repositories lists a registry's repositories (the v2 catalog API),
// following Link headers within the listing bounds.
func Repositories(ctx context.Context, host string, insecure bool, o source.Options) ([]string, error) {
	reg, err := name.NewRegistry(host, nameOptions(insecure)...)
	if err != nil {
		return nil, err
	}
	p, err := remote.NewPuller(remoteOptions(ctx, o)...)
	if err != nil {
		return nil, err
	}
	c, err := p.Catalogger(ctx, reg)
	if err != nil {
		return nil, sanitize(err)
	}
	return pages(c.HasNext, func() ([]string, error) {
		page, err := c.Next(ctx)
		if err != nil {
			return nil, err
		}
		return page.Repos, nil
	}, "catalog of "+host)
}

// Tags lists the tags of host/repository, within the listing bounds.
func Tags(ctx context.Context, repo string, insecure bool, o source.Options) ([]string, error) {
	r, err := name.NewRepository(repo, nameOptions(insecure)...)
	if err != nil {
		return nil, err
	}
	p, err := remote.NewPuller(remoteOptions(ctx, o)...)
	if err != nil {
		return nil, err
	}
	l, err := p.Lister(ctx, r)
	if err != nil {
		return nil, sanitize(err)
	}
	return pages(l.HasNext, func() ([]string, error) {
		page, err := l.Next(ctx)
		if err != nil {
			return nil, err
		}
		return page.Tags, nil
	}, "tags of "+repo)
}

// pages collects a paged listing, failing past the bounds.
func pages(more func() bool, next func() ([]string, error), what string) ([]string, error) {
	var out []string
	for n := 0; more(); n++ {
		if n >= MaxListPages || len(out) > MaxListEntries {
			return nil, fmt.Errorf("%s: over %d pages or %d entries", what, MaxListPages, MaxListEntries)
		}
		page, err := next()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, sanitize(err))
		}
		out = append(out, page...)
	}
	return out, nil
}

// Push writes img to ref (a fixed image): blobs the repository has are not
// sent again.
func Push(ctx context.Context, ref string, insecure bool, img v1.Image, o source.Options) (string, error) {
	r, err := name.ParseReference(ref, nameOptions(insecure)...)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	if err := remote.Write(r, img, remoteOptions(ctx, o)...); err != nil {
		return "", fmt.Errorf("push %s: %w", r, sanitize(err))
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}
