// Package catalog lists a registry by the distribution API: the catalog
// (/v2/_catalog) and each repository's tags, following Link headers. It is
// the lister of generic, Quay and GitLab connections; the listing knows no
// digests or push times.
package catalog

import (
	"context"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/source"
)

// Lister implements registries.Lister.
type Lister struct {
	PageSize int // 0: the client's default
}

type fixed struct{ a authn.Authenticator }

func (f fixed) Resolve(authn.Resource) (authn.Authenticator, error) { return f.a, nil }

// List implements registries.Lister over the connection's first host.
func (l Lister) List(ctx context.Context, c *registries.Connection, login registries.Login, rt http.RoundTripper, each func(registries.Image) error) error {
	if len(c.Hosts) == 0 {
		return nil
	}
	var a authn.Authenticator = authn.Anonymous
	if login.Username != "" || login.Password != "" {
		a = authn.FromConfig(authn.AuthConfig{Username: login.Username, Password: login.Password})
	}
	o := source.Options{Keychain: fixed{a}, Transport: rt, PageSize: l.PageSize}
	host := c.Hosts[0]
	repos, err := registry.Repositories(ctx, host, c.Insecure, o)
	if err != nil {
		return err
	}
	for _, repo := range repos {
		tags, err := registry.Tags(ctx, host+"/"+repo, c.Insecure, o)
		if err != nil {
			return err
		}
		for _, tag := range tags {
			if err := each(registries.Image{Repository: repo, Tag: tag}); err != nil {
				return err
			}
		}
	}
	return nil
}
