// Package registries holds the registry connections: the registries a
// deployment may pull from, each with its kind, hosts, how it
// authenticates, whether plain HTTP is allowed and its throttle. They are
// configuration in the store (storekey.Registry), managed by the
// /v1/registries routes and `layerscan registries`; they are also the
// allow-list of every pull the service makes (Allowed).
//
// Secrets never sit in the clear in the store or any output: a connection
// names where its secret comes from (an environment variable of the
// function, a file, or a value encrypted with LAYERSCAN_SECRET_KEY), and
// Masked is what every API response shows.
package registries

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
)

// Kind is the kind of registry a connection is to.
type Kind string

// The kinds of registries.
const (
	ACREE   Kind = "acr-ee" // Alibaba Cloud Container Registry Enterprise Edition
	Harbor  Kind = "harbor"
	Quay    Kind = "quay"
	GitLab  Kind = "gitlab"
	ECR     Kind = "ecr"
	Generic Kind = "generic" // any OCI distribution registry
)

// Kinds lists every kind.
var Kinds = []Kind{ACREE, Harbor, Quay, GitLab, ECR, Generic}

// Auth methods.
const (
	// AuthNone pulls anonymously (public images); the CLI falls back to
	// the Docker config.
	AuthNone = "none"
	// AuthBasic logs in with a username and a secret: a Harbor or Quay
	// robot account, a GitLab deploy or access token, a registry password.
	// Registries with a token realm (distribution's token auth) exchange
	// them for a bearer token; go-containerregistry does that.
	AuthBasic = "basic"
	// AuthCloud asks the cloud for a temporary login: ACR EE's
	// GetAuthorizationToken, ECR's GetAuthorizationToken; with the
	// function role's credentials, or an AccessKey named by Username
	// (the key ID) and Secret.
	AuthCloud = "cloud"
)

// Connection is one registry connection, as stored at storekey.Registry.
type Connection struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Hosts are the registry's host[:port] names: an ACR EE instance has a
	// public and a VPC endpoint. The first is where listing pulls from.
	Hosts []string `json:"hosts"`
	// ExtraHosts are the other hosts its answers may send a client to:
	// blob storage that redirects point at, a token service of another
	// host. "*.example.com" matches every subdomain.
	ExtraHosts []string `json:"extraHosts,omitempty"`
	Auth       Auth     `json:"auth"`
	// Insecure allows plain HTTP; only for loopback hosts.
	Insecure bool `json:"insecure,omitempty"`
	// ImagesPerHour is the throttle of scans pulled from it; 0 is the
	// kind's default (DefaultImagesPerHour), -1 unlimited.
	ImagesPerHour int               `json:"imagesPerHour,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	// Webhook is how the registry's push notifications prove they are its.
	Webhook *Webhook `json:"webhook,omitempty"`

	// Region of an ACR EE instance or ECR registry.
	Region string `json:"region,omitempty"`
	// InstanceID of an ACR EE instance (cri-…).
	InstanceID string `json:"instanceId,omitempty"`
	// Account is the ECR registry ID (the AWS account).
	Account string `json:"account,omitempty"`
	// API overrides the kind's API endpoint: the ACR OpenAPI endpoint
	// (default cr.<region>.aliyuncs.com), the ECR endpoint, Harbor's
	// (default https://<first host>), GitLab's.
	API string `json:"api,omitempty"`

	// Builtin marks the account's default ACR connections: they are
	// created on first use and cannot be deleted.
	Builtin bool   `json:"builtin,omitempty"`
	Created string `json:"created,omitempty"`
	Updated string `json:"updated,omitempty"`
}

// Webhook authenticates a registry's push notifications. Without a
// secret they are refused, unless AllowUnauthenticated says otherwise.
type Webhook struct {
	// Secret the sender proves: as Harbor's "Auth Header" (sent verbatim,
	// or as a Bearer token), as ?token=, or as the key of an HMAC-SHA256
	// signature of the body (X-Layerscan-Signature or X-Hub-Signature-256:
	// sha256=<hex>).
	Secret *Secret `json:"secret,omitempty"`
	// AllowUnauthenticated accepts notifications without proof: an explicit
	// choice, for a registry on a network nobody else reaches.
	AllowUnauthenticated bool `json:"allowUnauthenticated,omitempty"`
}

// Auth says how a connection logs in.
type Auth struct {
	Method   string  `json:"method"`
	Username string  `json:"username,omitempty"`
	Secret   *Secret `json:"secret,omitempty"`
}

// DefaultImagesPerHour is the throttle of a kind when the connection sets
// none: Harbor's scanner default is 10 images an hour; others are not
// throttled by default.
func DefaultImagesPerHour(k Kind) int {
	if k == Harbor {
		return 10
	}
	return -1
}

// Throttle is the connection's images-per-hour limit; -1 is none.
func (c *Connection) Throttle() int {
	if c.ImagesPerHour == 0 {
		return DefaultImagesPerHour(c.Kind)
	}
	return c.ImagesPerHour
}

var (
	idRe   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)
	hostRe = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$|^\[[0-9a-fA-F:]+\](:[0-9]{1,5})?$`)
)

// ErrInvalid marks a connection that cannot be stored; the message names
// the field.
var ErrInvalid = errors.New("invalid registry connection")

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// Validate checks a connection before it is stored.
func (c *Connection) Validate() error {
	if !idRe.MatchString(c.ID) {
		return invalid("id", "%q must be a letter then up to 62 letters, digits, - or _", c.ID)
	}
	known := false
	for _, k := range Kinds {
		known = known || c.Kind == k
	}
	if !known {
		return invalid("kind", "%q is not one of %v", c.Kind, Kinds)
	}
	if len(c.Hosts) == 0 && !c.Builtin {
		return invalid("hosts", "at least one registry host is needed")
	}
	for i, h := range c.Hosts {
		if !hostRe.MatchString(h) || strings.HasPrefix(h, "*.") {
			return invalid(fmt.Sprintf("hosts[%d]", i), "%q is not a host[:port]", h)
		}
		if c.Insecure && !IsLoopback(h) {
			return invalid("insecure", "plain HTTP is allowed for loopback hosts only, not %s", h)
		}
	}
	for i, h := range c.ExtraHosts {
		if !hostRe.MatchString(h) {
			return invalid(fmt.Sprintf("extraHosts[%d]", i), "%q is not a host[:port] or *.domain", h)
		}
	}
	switch c.Auth.Method {
	case AuthNone:
		if c.Auth.Secret != nil {
			return invalid("auth.secret", "method none takes no secret")
		}
	case AuthBasic:
		if c.Auth.Username == "" || c.Auth.Secret == nil {
			return invalid("auth", "method basic needs a username and a secret")
		}
	case AuthCloud:
		if c.Kind != ACREE && c.Kind != ECR {
			return invalid("auth.method", "cloud logins are for acr-ee and ecr, not %s", c.Kind)
		}
		if (c.Auth.Username == "") != (c.Auth.Secret == nil) {
			return invalid("auth", "an AccessKey needs both its ID (username) and its secret; neither uses the function role")
		}
	default:
		return invalid("auth.method", "%q is not none, basic or cloud", c.Auth.Method)
	}
	if c.Auth.Secret != nil {
		if err := c.Auth.Secret.validate("auth.secret"); err != nil {
			return err
		}
	}
	switch c.Kind {
	case ACREE:
		if c.Auth.Method == AuthCloud && (c.Region == "" || c.InstanceID == "") {
			return invalid("instanceId", "an acr-ee cloud login needs region and instanceId")
		}
	case ECR:
		if c.Auth.Method == AuthCloud && c.Region == "" {
			return invalid("region", "an ecr cloud login needs region")
		}
	}
	if w := c.Webhook; w != nil && w.Secret != nil {
		if err := w.Secret.validate("webhook.secret"); err != nil {
			return invalid("webhook.secret", "%v", err)
		}
	}
	if c.ImagesPerHour < -1 {
		return invalid("imagesPerHour", "%d: want -1 (unlimited), 0 (the kind's default) or a positive count", c.ImagesPerHour)
	}
	if c.API != "" && !strings.HasPrefix(c.API, "https://") && !(strings.HasPrefix(c.API, "http://") && c.Insecure) {
		return invalid("api", "%q must be an https:// URL (http:// with insecure on loopback)", c.API)
	}
	for k := range c.Labels {
		if k == "" || len(k) > 63 {
			return invalid("labels", "label names are 1 to 63 characters")
		}
	}
	return nil
}

// Masked is the connection as every response shows it: no secret value,
// encrypted or not; where a secret comes from stays visible.
func (c Connection) Masked() Connection {
	c.Auth.Secret = c.Auth.Secret.masked()
	if c.Webhook != nil {
		w := *c.Webhook
		w.Secret = w.Secret.masked()
		c.Webhook = &w
	}
	return c
}

func (s *Secret) masked() *Secret {
	if s == nil {
		return nil
	}
	m := Secret{Env: s.Env, File: s.File}
	if s.Encrypted != "" {
		m.Encrypted = "****"
	}
	return &m
}

// Serves reports whether host (host[:port], as a reference names it) is
// one of the connection's registry hosts.
func (c *Connection) Serves(host string) bool {
	for _, h := range c.Hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// Reaches reports whether a client may be sent to host by this
// registry's answers (its hosts and extra hosts).
func (c *Connection) Reaches(host string) bool {
	if c.Serves(host) || (c.APIHost() != "" && strings.EqualFold(c.APIHost(), host)) {
		return true
	}
	name := strings.ToLower(host)
	bare, _, err := net.SplitHostPort(name)
	if err != nil {
		bare = name
	}
	for _, h := range c.ExtraHosts {
		h = strings.ToLower(h)
		if suffix, ok := strings.CutPrefix(h, "*"); ok {
			if strings.HasSuffix(bare, suffix) || strings.HasSuffix(name, suffix) {
				return true
			}
		} else if h == name || h == bare {
			return true
		}
	}
	return false
}

// IsLoopback is true for localhost and loopback addresses (any port).
func IsLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Set is the connections in force, with the lookups the pull path needs.
type Set struct {
	conns []*Connection
}

// NewSet orders connections by ID.
func NewSet(cs []*Connection) *Set {
	sorted := append([]*Connection(nil), cs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	return &Set{conns: sorted}
}

// All returns the connections by ID.
func (s *Set) All() []*Connection { return s.conns }

// ByID returns one connection.
func (s *Set) ByID(id string) (*Connection, bool) {
	for _, c := range s.conns {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}

// ForHost returns the connection whose registry hosts include host.
func (s *Set) ForHost(host string) (*Connection, bool) {
	for _, c := range s.conns {
		if c.Serves(host) {
			return c, true
		}
	}
	return nil, false
}

// Reachable reports whether any connection may send a client to host.
func (s *Set) Reachable(host string) bool {
	for _, c := range s.conns {
		if c.Reaches(host) {
			return true
		}
	}
	return false
}

// Named reports whether a connection names host itself (not by a
// wildcard): only such hosts may resolve to loopback or private addresses.
func (s *Set) Named(host string) bool {
	for _, c := range s.conns {
		if c.Serves(host) || c.API != "" && strings.EqualFold(c.APIHost(), host) {
			return true
		}
		for _, h := range c.ExtraHosts {
			if strings.EqualFold(h, host) {
				return true
			}
		}
	}
	return false
}
