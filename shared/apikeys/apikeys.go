// Package apikeys is who may call the API: keys with a role, stored
// hashed (storekey.APIKey), optionally limited to repositories. A key is
// shown once, when it is created; the store keeps only its SHA-256.
package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Role is what a key may do.
type Role string

// The roles.
const (
	// Admin manages settings, registries, keys, whitelists and fixes, and
	// does everything the others do.
	Admin Role = "admin"
	// Operator scans (and scans now, and fixes) and reads.
	Operator Role = "operator"
	// Viewer reads reports, scans, tasks and settings.
	Viewer Role = "viewer"
	// CI scans and reads the report (the verdict) of what it scanned.
	CI Role = "ci"
)

// Permission is what a route needs.
type Permission string

// The permissions.
const (
	ReadReports  Permission = "read-reports"  // scans' progress and reports
	ReadSettings Permission = "read-settings" // registries, settings, tasks
	Scan         Permission = "scan"          // start scans
	Manage       Permission = "manage"        // write settings, registries, keys, whitelists; read the audit log
	Fix          Permission = "fix"           // build and push fixed images
)

var grants = map[Role][]Permission{
	Admin:    {ReadReports, ReadSettings, Scan, Manage, Fix},
	Operator: {ReadReports, ReadSettings, Scan, Fix},
	Viewer:   {ReadReports, ReadSettings},
	CI:       {ReadReports, Scan},
}

// Roles lists every role.
var Roles = []Role{Admin, Operator, Viewer, CI}

// Key is one API key as stored: its hash, never the key.
type Key struct {
	ID   string `json:"id"`
	Role Role   `json:"role"`
	Name string `json:"name,omitempty"`
	// Repositories limits the key to these repositories (registry/name,
	// path.Match patterns such as "registry.example.com/team/*"); empty
	// is every repository.
	Repositories []string `json:"repositories,omitempty"`
	Hash         string   `json:"sha256,omitempty"`
	Created      string   `json:"created"`
	CreatedBy    string   `json:"createdBy,omitempty"`
}

// Public is the key as listings show it: no hash.
func (k Key) Public() Key {
	k.Hash = ""
	return k
}

// Can reports whether the key's role grants p.
func (k *Key) Can(p Permission) bool {
	for _, g := range grants[k.Role] {
		if g == p {
			return true
		}
	}
	return false
}

// Covers reports whether the key may act on repository (registry/name,
// without tag or digest).
func (k *Key) Covers(repository string) bool {
	if len(k.Repositories) == 0 {
		return true
	}
	for _, p := range k.Repositories {
		if ok, _ := path.Match(p, repository); ok || p == repository {
			return true
		}
	}
	return false
}

// Errors of keys.
var (
	ErrInvalid      = errors.New("invalid API key request")
	ErrUnauthorized = errors.New("missing, malformed, unknown or revoked API key")
	ErrNotFound     = errors.New("no such API key")
)

// prefix starts every key, so that leaked keys are recognisable (and
// secret scanners can be taught them).
const prefix = "lsk_"

var (
	idRe  = regexp.MustCompile(`^[0-9a-f]{12}$`)
	keyRe = regexp.MustCompile(`^lsk_([0-9a-f]{12})_([0-9a-f]{64})$`)
)

// BootstrapEnv names an environment variable holding an admin key that is
// not in the store: the first key of a cloud deployment, from which the
// others are created over the API.
const BootstrapEnv = "LAYERSCAN_BOOTSTRAP_KEY"

// Store keeps keys in a store.
type Store struct {
	Store store.Store
	Now   func() time.Time
	// Bootstrap is an admin key accepted without being stored (the value
	// of BootstrapEnv); empty accepts none.
	Bootstrap string
	// TTL bounds how long a key stays accepted after it is revoked through
	// another function instance; 0: 10 s.
	TTL time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	key *Key
	at  time.Time
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Create makes a key and returns it with its one showing of the secret.
func (s *Store) Create(ctx context.Context, role Role, name string, repositories []string, by string) (*Key, string, error) {
	if _, ok := grants[role]; !ok {
		return nil, "", fmt.Errorf("%w: role %q is not one of %v", ErrInvalid, role, Roles)
	}
	for _, r := range repositories {
		if _, err := path.Match(r, ""); err != nil || r == "" {
			return nil, "", fmt.Errorf("%w: repository pattern %q", ErrInvalid, r)
		}
	}
	var id, secret [32]byte
	if _, err := rand.Read(id[:6]); err != nil {
		return nil, "", err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, "", err
	}
	k := &Key{ID: hex.EncodeToString(id[:6]), Role: role, Name: name, Repositories: repositories, Created: s.now().UTC().Format(time.RFC3339), CreatedBy: by}
	plain := prefix + k.ID + "_" + hex.EncodeToString(secret[:])
	k.Hash = hash(plain)
	ok, err := store.PutJSONIfAbsent(ctx, s.Store, storekey.APIKey(k.ID), k)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", errors.New("api key id collision; try again")
	}
	return k, plain, nil
}

// List returns every key.
func (s *Store) List(ctx context.Context) ([]*Key, error) {
	keys, err := s.Store.List(ctx, storekey.APIKeysPrefix)
	if err != nil {
		return nil, err
	}
	var out []*Key
	for _, name := range keys {
		var k Key
		if err := store.GetJSON(ctx, s.Store, name, &k); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, &k)
	}
	return out, nil
}

// Configured reports whether any key can authenticate: stored keys or a
// bootstrap key.
func (s *Store) Configured(ctx context.Context) (bool, error) {
	if s.Bootstrap != "" {
		return true, nil
	}
	keys, err := s.Store.List(ctx, storekey.APIKeysPrefix)
	return len(keys) > 0, err
}

// Revoke deletes a key.
func (s *Store) Revoke(ctx context.Context, id string) error {
	if !idRe.MatchString(id) {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	ok, err := s.Store.Exists(ctx, storekey.APIKey(id))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
	return s.Store.Delete(ctx, storekey.APIKey(id))
}

// Authenticate returns the key an Authorization header carries
// ("Bearer lsk_…").
func (s *Store) Authenticate(ctx context.Context, header string) (*Key, error) {
	plain, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return nil, ErrUnauthorized
	}
	plain = strings.TrimSpace(plain)
	if s.Bootstrap != "" && subtle.ConstantTimeCompare([]byte(hash(plain)), []byte(hash(s.Bootstrap))) == 1 {
		return &Key{ID: "bootstrap", Role: Admin, Name: BootstrapEnv}, nil
	}
	m := keyRe.FindStringSubmatch(plain)
	if m == nil {
		return nil, ErrUnauthorized
	}
	k, err := s.load(ctx, m[1])
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hash(plain)), []byte(k.Hash)) != 1 {
		return nil, ErrUnauthorized
	}
	return k, nil
}

func (s *Store) load(ctx context.Context, id string) (*Key, error) {
	ttl := s.TTL
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	s.mu.Lock()
	c, ok := s.cache[id]
	s.mu.Unlock()
	if ok && s.now().Sub(c.at) < ttl {
		return c.key, nil
	}
	var k Key
	err := store.GetJSON(ctx, s.Store, storekey.APIKey(id), &k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]cached{}
	}
	s.cache[id] = cached{&k, s.now()}
	s.mu.Unlock()
	return &k, nil
}
