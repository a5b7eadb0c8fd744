package registries

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Image is one tag a registry lists, with what the listing knows of it:
// its digest and push time when the kind's API says (ACR EE, Harbor, ECR),
// neither for a plain catalog.
type Image struct {
	Repository string // without the host: team/app
	Tag        string
	Digest     string
	Pushed     time.Time
}

// Lister lists the images of a connection's registry. rt carries its
// requests (the network guard); login is the connection's.
type Lister interface {
	List(ctx context.Context, c *Connection, login Login, rt http.RoundTripper, each func(Image) error) error
}

// APIHost is the host of the connection's API (Harbor's, the cloud's), so
// that the network guard lets its calls through.
func (c *Connection) APIHost() string {
	if c.API != "" {
		if u, err := url.Parse(c.API); err == nil {
			return u.Host
		}
	}
	switch c.Kind {
	case ACREE:
		if c.Region != "" {
			return "cr." + c.Region + ".aliyuncs.com"
		}
	case ECR:
		if c.Region != "" {
			return "api.ecr." + c.Region + ".amazonaws.com"
		}
	}
	return ""
}

// APIBase is the base URL of the connection's registry-side API (Harbor,
// GitLab): API, or https://<first host>.
func (c *Connection) APIBase() string {
	if c.API != "" {
		return strings.TrimSuffix(c.API, "/")
	}
	if len(c.Hosts) == 0 {
		return ""
	}
	scheme := "https://"
	if c.Insecure {
		scheme = "http://"
	}
	return scheme + c.Hosts[0]
}
