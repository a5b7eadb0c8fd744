// Package acr is the Alibaba Cloud Container Registry Enterprise Edition
// kind: temporary registry logins from the ACR OpenAPI (cr 2018-12-01,
// GetAuthorizationToken) and listing by ListNamespace, ListRepository and
// ListRepoTag, whose tag records carry the image's digest and update time.
// It uses the classic alibaba-cloud-sdk-go (services/cr_ee): see
// docs/dependencies.md for the measurement behind the choice.
package acr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cr_ee"

	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registry"
)

// Cloud implements registries.CloudLogin and registries.Lister for acr-ee.
type Cloud struct {
	// Transport carries the OpenAPI calls (the network guard).
	Transport http.RoundTripper
	// Key gives the cloud credentials of a connection (its AccessKey or
	// the function role's); registries.Logins.CloudKey is one.
	Key func(c *registries.Connection) (*registries.AccessKey, error)
	// PageSize of the listings; 0: 100.
	PageSize int
}

// maxPages bounds a listing: a hostile API could page forever.
const maxPages = registry.MaxListPages

func (a Cloud) client(c *registries.Connection, key *registries.AccessKey) (*cr_ee.Client, error) {
	if key == nil || key.ID == "" {
		return nil, errors.New("no Alibaba Cloud credentials: run with a function role, or give the connection an AccessKey")
	}
	var cl *cr_ee.Client
	var err error
	if key.Token != "" {
		cl, err = cr_ee.NewClientWithStsToken(c.Region, key.ID, key.Secret, key.Token)
	} else {
		cl, err = cr_ee.NewClientWithAccessKey(c.Region, key.ID, key.Secret)
	}
	if err != nil {
		return nil, err
	}
	if a.Transport != nil {
		cl.SetTransport(a.Transport)
	}
	cl.SetConnectTimeout(10 * time.Second)
	cl.SetReadTimeout(30 * time.Second)
	return cl, nil
}

// endpoint points a request at the connection's API when it overrides the
// regional endpoint (VPC endpoints, tests).
func endpoint(c *registries.Connection, r *requests.RpcRequest) error {
	if c.API == "" {
		r.Scheme = "https"
		return nil
	}
	u, err := url.Parse(c.API)
	if err != nil {
		return err
	}
	r.Domain, r.Scheme = u.Host, u.Scheme
	return nil
}

// Login implements registries.CloudLogin.
func (a Cloud) Login(_ context.Context, c *registries.Connection, key *registries.AccessKey) (registries.Login, error) {
	cl, err := a.client(c, key)
	if err != nil {
		return registries.Login{}, err
	}
	req := cr_ee.CreateGetAuthorizationTokenRequest()
	req.InstanceId = c.InstanceID
	if err := endpoint(c, req.RpcRequest); err != nil {
		return registries.Login{}, err
	}
	resp, err := cl.GetAuthorizationToken(req)
	if err != nil {
		return registries.Login{}, fmt.Errorf("ACR GetAuthorizationToken: %w", err)
	}
	if !resp.GetAuthorizationTokenIsSuccess || resp.AuthorizationToken == "" {
		return registries.Login{}, fmt.Errorf("ACR GetAuthorizationToken: %s", resp.Code)
	}
	return registries.Login{Username: resp.TempUsername, Password: resp.AuthorizationToken, Expires: time.UnixMilli(resp.ExpireTime)}, nil
}

func (a Cloud) pageSize() int {
	if a.PageSize > 0 {
		return a.PageSize
	}
	return 100
}

// List implements registries.Lister: every tag of every repository of
// every namespace of the instance.
func (a Cloud) List(ctx context.Context, c *registries.Connection, _ registries.Login, _ http.RoundTripper, each func(registries.Image) error) error {
	if a.Key == nil {
		return errors.New("acr: no credentials source")
	}
	key, err := a.Key(c)
	if err != nil {
		return err
	}
	cl, err := a.client(c, key)
	if err != nil {
		return err
	}
	size := a.pageSize()
	var namespaces []string
	err = paginate(func(page int) (int, int, error) {
		req := cr_ee.CreateListNamespaceRequest()
		req.InstanceId, req.PageNo, req.PageSize = c.InstanceID, requests.NewInteger(page), requests.NewInteger(size)
		if err := endpoint(c, req.RpcRequest); err != nil {
			return 0, 0, err
		}
		resp, err := cl.ListNamespace(req)
		if err != nil {
			return 0, 0, fmt.Errorf("ACR ListNamespace: %w", err)
		}
		for _, n := range resp.Namespaces {
			namespaces = append(namespaces, n.NamespaceName)
		}
		return len(resp.Namespaces), total(resp.TotalCount), nil
	})
	if err != nil {
		return err
	}
	for _, ns := range namespaces {
		var repos []cr_ee.RepositoriesItem
		err := paginate(func(page int) (int, int, error) {
			req := cr_ee.CreateListRepositoryRequest()
			req.InstanceId, req.RepoNamespaceName, req.PageNo, req.PageSize = c.InstanceID, ns, requests.NewInteger(page), requests.NewInteger(size)
			if err := endpoint(c, req.RpcRequest); err != nil {
				return 0, 0, err
			}
			resp, err := cl.ListRepository(req)
			if err != nil {
				return 0, 0, fmt.Errorf("ACR ListRepository %s: %w", ns, err)
			}
			repos = append(repos, resp.Repositories...)
			return len(resp.Repositories), total(resp.TotalCount), nil
		})
		if err != nil {
			return err
		}
		for _, r := range repos {
			err := paginate(func(page int) (int, int, error) {
				if err := ctx.Err(); err != nil {
					return 0, 0, err
				}
				req := cr_ee.CreateListRepoTagRequest()
				req.InstanceId, req.RepoId, req.PageNo, req.PageSize = c.InstanceID, r.RepoId, requests.NewInteger(page), requests.NewInteger(size)
				if err := endpoint(c, req.RpcRequest); err != nil {
					return 0, 0, err
				}
				resp, err := cl.ListRepoTag(req)
				if err != nil {
					return 0, 0, fmt.Errorf("ACR ListRepoTag %s/%s: %w", r.RepoNamespaceName, r.RepoName, err)
				}
				for _, im := range resp.Images {
					if err := each(registries.Image{Repository: r.RepoNamespaceName + "/" + r.RepoName, Tag: im.Tag, Digest: digest(im.Digest), Pushed: parseTime(im.ImageUpdate)}); err != nil {
						return 0, 0, err
					}
				}
				return len(resp.Images), total(resp.TotalCount), nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// paginate calls page 1, 2, … until the items seen reach the total (or a
// page comes back empty); PageNo starts at 1.
func paginate(page func(n int) (got, total int, err error)) error {
	seen := 0
	for n := 1; n <= maxPages; n++ {
		got, total, err := page(n)
		if err != nil {
			return err
		}
		seen += got
		if seen > registry.MaxListEntries {
			return fmt.Errorf("over %d entries", registry.MaxListEntries)
		}
		if got == 0 || seen >= total {
			return nil
		}
	}
	return fmt.Errorf("more than %d pages", maxPages)
}

// total reads TotalCount, a string in ACR EE's answers.
func total(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// digest adds the algorithm some answers leave out.
func digest(d string) string {
	if d != "" && len(d) == 64 {
		return "sha256:" + d
	}
	return d
}

// parseTime reads ImageUpdate: epoch milliseconds as digits, or a date.
func parseTime(s string) time.Time {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC()
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05.000Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
