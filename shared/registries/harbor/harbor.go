// Package harbor lists a Harbor registry through its v2.0 API: projects,
// their repositories, and each repository's artifacts with their tags,
// digests and push times, not the catalog (which Harbor restricts to
// administrators). It logs in with the connection's robot account.
package harbor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registry"
)

// Lister implements registries.Lister.
type Lister struct {
	PageSize int // 0: 100
}

// maxPages bounds a listing: a hostile API could page forever.
const maxPages = registry.MaxListPages

type project struct {
	Name string `json:"name"`
}

type repository struct {
	Name string `json:"name"` // project/repo
}

type artifact struct {
	Digest   string    `json:"digest"`
	PushTime time.Time `json:"push_time"`
	Tags     []struct {
		Name string `json:"name"`
	} `json:"tags"`
}

// List implements registries.Lister.
func (l Lister) List(ctx context.Context, c *registries.Connection, login registries.Login, rt http.RoundTripper, each func(registries.Image) error) error {
	base := c.APIBase()
	if base == "" {
		return nil
	}
	api := &client{base: base + "/api/v2.0", login: login, http: &http.Client{Transport: rt, Timeout: 2 * time.Minute}, size: l.PageSize}
	if api.size <= 0 {
		api.size = 100
	}
	var projects []project
	if err := api.pages(ctx, "/projects", &projects); err != nil {
		return err
	}
	for _, p := range projects {
		var repos []repository
		if err := api.pages(ctx, "/projects/"+url.PathEscape(p.Name)+"/repositories", &repos); err != nil {
			return err
		}
		for _, r := range repos {
			short := strings.TrimPrefix(r.Name, p.Name+"/")
			// Harbor wants the repository name escaped twice (a/b → a%252Fb).
			path := "/projects/" + url.PathEscape(p.Name) + "/repositories/" + url.PathEscape(url.PathEscape(short)) + "/artifacts"
			var arts []artifact
			if err := api.pages(ctx, path+"?with_tag=true", &arts); err != nil {
				return err
			}
			for _, a := range arts {
				for _, tag := range a.Tags {
					if err := each(registries.Image{Repository: r.Name, Tag: tag.Name, Digest: a.Digest, Pushed: a.PushTime}); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

type client struct {
	base  string
	login registries.Login
	http  *http.Client
	size  int
}

// pages GETs every page of a list into out (a pointer to a slice).
func (c *client) pages(ctx context.Context, path string, out any) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []json.RawMessage
	for page := 1; page <= maxPages; page++ {
		u := fmt.Sprintf("%s%s%spage=%d&page_size=%d", c.base, path, sep, page, c.size)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		if c.login.Username != "" {
			req.SetBasicAuth(c.login.Username, c.login.Password)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return fmt.Errorf("harbor %s: %w", path, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("harbor %s: %w", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("harbor %s: answered %d %s", path, resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			return fmt.Errorf("harbor %s: %w", path, err)
		}
		all = append(all, items...)
		if len(all) > registry.MaxListEntries {
			return fmt.Errorf("harbor %s: over %d entries", path, registry.MaxListEntries)
		}
		if len(items) < c.size {
			break
		}
	}
	joined, _ := json.Marshal(all)
	return json.Unmarshal(joined, out)
}
