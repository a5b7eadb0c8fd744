// Package clusters is the Kubernetes cluster connections a runtime scan
// reads (config/clusters/<id>.json): the API server, its CA, a bearer
// token handled like registry secrets, and the namespaces and workloads
// in scope.
package clusters

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Kinds of workloads a scope names.
var Kinds = []string{"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "Pod"}

// Workload selects workloads: by kind and name, or the Pods a label
// selector matches, in a namespace ("" for every namespace in scope).
type Workload struct {
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
	Selector  string `json:"selector,omitempty"`
}

// Cluster is one cluster connection.
type Cluster struct {
	ID string `json:"id"`
	// Server is the API server's https URL.
	Server string `json:"server"`
	// CA is the PEM of the certificates the API server's is checked
	// against; empty trusts the system's roots.
	CA string `json:"ca,omitempty"`
	// Token is a service-account token, never stored or shown in clear.
	Token *registries.Secret `json:"token"`
	// Namespaces in scope; none is every namespace.
	Namespaces []string `json:"namespaces,omitempty"`
	// Workloads in scope; none is every Pod of the namespaces.
	Workloads []Workload `json:"workloads,omitempty"`
	Created   string     `json:"created,omitempty"`
	Updated   string     `json:"updated,omitempty"`
}

// ErrInvalid marks a connection that cannot be stored; ErrNotFound a
// missing one; ErrExists an ID in use.
var (
	ErrInvalid  = errors.New("invalid cluster connection")
	ErrNotFound = errors.New("no such cluster")
	ErrExists   = errors.New("a cluster of that ID exists")
)

var (
	idRe       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	dnsRe      = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	selectorRe = regexp.MustCompile(`^[A-Za-z0-9_./=!,() -]+$`) // and at most 1024 bytes
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks a connection as a caller sent it.
func (c *Cluster) Validate() error {
	if !idRe.MatchString(c.ID) {
		return invalid("id: %q is not a lower-case name", c.ID)
	}
	u, err := url.Parse(c.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return invalid("server: %q is not an https URL of an API server", c.Server)
	}
	if c.CA != "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CA)) {
			return invalid("ca: no PEM certificate")
		}
	}
	if c.Token == nil {
		return invalid("token: a service-account token is needed (env, file or value)")
	}
	if why := c.Token.Check("token"); why != "" {
		return invalid("%s", why)
	}
	if len(c.Namespaces) > 1000 || len(c.Workloads) > 1000 {
		return invalid("at most 1000 namespaces and 1000 workloads")
	}
	for i, ns := range c.Namespaces {
		if !dnsRe.MatchString(ns) {
			return invalid("namespaces[%d]: %q is not a namespace name", i, ns)
		}
	}
	for i, w := range c.Workloads {
		if w.Namespace != "" && !dnsRe.MatchString(w.Namespace) {
			return invalid("workloads[%d].namespace: %q", i, w.Namespace)
		}
		if w.Kind != "" && !slices.Contains(Kinds, w.Kind) {
			return invalid("workloads[%d].kind: %q is not one of %s", i, w.Kind, strings.Join(Kinds, ", "))
		}
		if w.Name != "" && !dnsRe.MatchString(w.Name) {
			return invalid("workloads[%d].name: %q", i, w.Name)
		}
		if w.Selector != "" && (len(w.Selector) > 1024 || !selectorRe.MatchString(w.Selector)) {
			return invalid("workloads[%d].selector: %q is not a label selector", i, w.Selector)
		}
		if w.Name == "" && w.Selector == "" && w.Kind == "" {
			return invalid("workloads[%d]: give a kind, a name or a selector", i)
		}
	}
	return nil
}

// Masked is the connection as listings show it.
func (c Cluster) Masked() Cluster {
	c.Token = c.Token.Masked()
	return c
}

// Host is the API server's host[:port]: the only host a runtime scan of
// this cluster dials besides the registries.
func (c *Cluster) Host() string {
	u, _ := url.Parse(c.Server)
	return u.Host
}

// Store keeps the connections in the object store.
type Store struct {
	Store   store.Store
	Secrets registries.Secrets
	Now     func() time.Time
}

func (s *Store) now() string {
	if s.Now != nil {
		return s.Now().UTC().Format(time.RFC3339)
	}
	return time.Now().UTC().Format(time.RFC3339)
}

// List returns every connection.
func (s *Store) List(ctx context.Context) ([]*Cluster, error) {
	keys, err := s.Store.List(ctx, storekey.ClustersPrefix)
	if err != nil {
		return nil, err
	}
	out := []*Cluster{}
	for _, k := range keys {
		var c Cluster
		if err := store.GetJSON(ctx, s.Store, k, &c); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, &c)
	}
	return out, nil
}

// Get returns one connection.
func (s *Store) Get(ctx context.Context, id string) (*Cluster, error) {
	if !idRe.MatchString(id) {
		return nil, fmt.Errorf("cluster %q: %w", id, ErrNotFound)
	}
	var c Cluster
	err := store.GetJSON(ctx, s.Store, storekey.Cluster(id), &c)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	return &c, err
}

// Create stores a new connection, its token sealed.
func (s *Store) Create(ctx context.Context, c *Cluster) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := s.Secrets.Seal(c.Token); err != nil {
		return err
	}
	c.Created, c.Updated = s.now(), ""
	ok, err := store.PutJSONIfAbsent(ctx, s.Store, storekey.Cluster(c.ID), c)
	if err == nil && !ok {
		err = fmt.Errorf("cluster %s: %w", c.ID, ErrExists)
	}
	return err
}

// Update replaces a connection; a token sent back masked keeps the stored one.
func (s *Store) Update(ctx context.Context, id string, c *Cluster) error {
	old, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if c.ID != id {
		return invalid("id: %q cannot be renamed to %q", id, c.ID)
	}
	if c.Token != nil && c.Token.IsMasked() {
		c.Token = old.Token
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := s.Secrets.Seal(c.Token); err != nil {
		return err
	}
	c.Created, c.Updated = old.Created, s.now()
	return store.PutJSON(ctx, s.Store, storekey.Cluster(id), c)
}

// Delete removes a connection.
func (s *Store) Delete(ctx context.Context, id string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	return s.Store.Delete(ctx, storekey.Cluster(id))
}
