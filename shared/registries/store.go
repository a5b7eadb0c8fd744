package registries

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Errors of the connection store.
var (
	ErrNotFound = errors.New("no such registry connection")
	ErrExists   = errors.New("a registry connection with this id exists")
	ErrBuiltin  = errors.New("the account's default ACR connections cannot be deleted")
)

// The account's default ACR connections, created on first use.
const (
	// DefaultPersonal is ACR Personal Edition in the account's region
	// (registry.<region>.aliyuncs.com), as the classic webhook names it.
	DefaultPersonal = "acr"
	// DefaultEnterprise is the account's default ACR Enterprise Edition
	// instance (LAYERSCAN_ACR_INSTANCE_ID and _NAME), logged in to with
	// the function role's temporary ACR tokens.
	DefaultEnterprise = "defaultAcr"
)

// Store keeps connections in a store.
type Store struct {
	Store   store.Store
	Secrets Secrets
	Now     func() time.Time

	ensured atomic.Bool // the defaults exist: checked once per instance
}

func (s *Store) now() string {
	t := time.Now()
	if s.Now != nil {
		t = s.Now()
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Store) getenv(k string) string {
	if s.Secrets.Getenv != nil {
		return s.Secrets.Getenv(k)
	}
	return os.Getenv(k)
}

// defaults are the account's default ACR connections for its region.
func (s *Store) defaults() []*Connection {
	region := s.getenv("ALIBABA_CLOUD_REGION")
	if region == "" {
		region = s.getenv("FC_REGION")
	}
	personal := &Connection{ID: DefaultPersonal, Kind: Generic, Auth: Auth{Method: AuthNone}, Builtin: true, Region: region,
		Labels: map[string]string{"edition": "personal"}}
	enterprise := &Connection{ID: DefaultEnterprise, Kind: ACREE, Auth: Auth{Method: AuthCloud}, Builtin: true, Region: region,
		InstanceID: s.getenv("LAYERSCAN_ACR_INSTANCE_ID"), Labels: map[string]string{"edition": "enterprise"}}
	if region != "" {
		personal.Hosts = []string{"registry." + region + ".aliyuncs.com", "registry-vpc." + region + ".aliyuncs.com"}
		if name := s.getenv("LAYERSCAN_ACR_INSTANCE_NAME"); name != "" {
			enterprise.Hosts = []string{name + "-registry." + region + ".cr.aliyuncs.com", name + "-registry-vpc." + region + ".cr.aliyuncs.com"}
		}
	}
	if enterprise.InstanceID == "" || region == "" {
		enterprise.Auth = Auth{Method: AuthNone} // nothing to ask a token for until configured
	}
	return []*Connection{personal, enterprise}
}

// ensureDefaults creates the default connections once (create-once, so
// concurrent first uses agree).
func (s *Store) ensureDefaults(ctx context.Context) error {
	if s.ensured.Load() {
		return nil
	}
	for _, c := range s.defaults() {
		if ok, err := s.Store.Exists(ctx, storekey.Registry(c.ID)); err != nil {
			return err
		} else if ok {
			continue
		}
		c.Created, c.Updated = s.now(), s.now()
		if _, err := store.PutJSONIfAbsent(ctx, s.Store, storekey.Registry(c.ID), c); err != nil {
			return fmt.Errorf("registry connection %s: %w", c.ID, err)
		}
	}
	s.ensured.Store(true)
	return nil
}

// List returns every connection, by ID.
func (s *Store) List(ctx context.Context) ([]*Connection, error) {
	if err := s.ensureDefaults(ctx); err != nil {
		return nil, err
	}
	keys, err := s.Store.List(ctx, storekey.RegistriesPrefix)
	if err != nil {
		return nil, err
	}
	var out []*Connection
	for _, k := range keys {
		var c Connection
		if err := store.GetJSON(ctx, s.Store, k, &c); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted meanwhile
			}
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, &c)
	}
	return NewSet(out).All(), nil
}

// Set returns the connections in force.
func (s *Store) Set(ctx context.Context) (*Set, error) {
	cs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	return NewSet(cs), nil
}

// Get returns one connection.
func (s *Store) Get(ctx context.Context, id string) (*Connection, error) {
	if !idRe.MatchString(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err := s.ensureDefaults(ctx); err != nil {
		return nil, err
	}
	var c Connection
	err := store.GetJSON(ctx, s.Store, storekey.Registry(id), &c)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return &c, err
}

// prepare validates c and seals a written secret value.
func (s *Store) prepare(c *Connection) error {
	c.Builtin = false // only defaults are builtin, and they are never written through here
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Webhook != nil {
		if err := s.Secrets.Seal(c.Webhook.Secret); err != nil {
			return err
		}
	}
	return s.Secrets.Seal(c.Auth.Secret)
}

// Create stores a new connection.
func (s *Store) Create(ctx context.Context, c *Connection) error {
	if err := s.ensureDefaults(ctx); err != nil {
		return err
	}
	if err := s.prepare(c); err != nil {
		return err
	}
	c.Created, c.Updated = s.now(), s.now()
	ok, err := store.PutJSONIfAbsent(ctx, s.Store, storekey.Registry(c.ID), c)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrExists, c.ID)
	}
	return nil
}

// Update replaces connection id. A secret sent back masked ("****", as
// responses show it) keeps the stored one.
func (s *Store) Update(ctx context.Context, id string, c *Connection) error {
	old, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if c.ID == "" {
		c.ID = id
	}
	if c.ID != id {
		return invalid("id", "%q cannot be renamed to %q", id, c.ID)
	}
	if sec := c.Auth.Secret; sec != nil && sec.Encrypted == "****" && old.Auth.Secret != nil {
		c.Auth.Secret = old.Auth.Secret
	}
	if c.Webhook != nil && c.Webhook.Secret != nil && c.Webhook.Secret.Encrypted == "****" && old.Webhook != nil {
		c.Webhook.Secret = old.Webhook.Secret
	}
	if err := s.prepare(c); err != nil {
		return err
	}
	c.Builtin = old.Builtin
	c.Created, c.Updated = old.Created, s.now()
	return store.PutJSON(ctx, s.Store, storekey.Registry(id), c)
}

// Delete removes a connection; the defaults stay.
func (s *Store) Delete(ctx context.Context, id string) error {
	c, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if c.Builtin {
		return fmt.Errorf("%w (%s)", ErrBuiltin, id)
	}
	return s.Store.Delete(ctx, storekey.Registry(id))
}
