package registries

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// AccessKey is a cloud credential: an AccessKey pair, with the security
// token of temporary (STS) credentials.
type AccessKey struct {
	ID, Secret, Token string
}

// Login is a registry login: a username and password for basic auth (or
// for a token realm to exchange), valid until Expires (zero: no end).
type Login struct {
	Username, Password string
	Expires            time.Time
}

// CloudLogin asks a cloud for a temporary registry login (ACR EE's and
// ECR's GetAuthorizationToken). key is the connection's AccessKey, or nil
// for the function role's credentials.
type CloudLogin interface {
	Login(ctx context.Context, c *Connection, key *AccessKey) (Login, error)
}

// refreshBefore is how long before its expiry a cached login is renewed,
// so that a pull that starts never carries a token about to lapse.
const refreshBefore = 5 * time.Minute

// loginTimeout bounds one login call.
const loginTimeout = 30 * time.Second

// Logins gives each connection its login, cached per function instance
// and refreshed before it expires.
type Logins struct {
	Secrets Secrets
	// Cloud logins by kind (acr-ee, ecr); a binary without them (the CLI)
	// refuses cloud logins with a clear error.
	Cloud map[Kind]CloudLogin
	// Roles return the function role's credentials of a kind's cloud (FC
	// hands them over with every request); none, or false, leaves the
	// cloud SDK's own chain (the Lambda role).
	Roles map[Kind]func() (AccessKey, bool)
	Now   func() time.Time

	mu    sync.Mutex // guards cache and locks
	cache map[string]Login
	// locks serialise the logins of one connection: a burst of pulls asks
	// once, and a slow cloud does not hold up the other connections.
	locks map[string]*sync.Mutex
}

func (l *Logins) lock(key string) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks == nil {
		l.locks = map[string]*sync.Mutex{}
	}
	m, ok := l.locks[key]
	if !ok {
		m = &sync.Mutex{}
		l.locks[key] = m
	}
	return m
}

func (l *Logins) cached(key string) (Login, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	got, ok := l.cache[key]
	return got, ok && (got.Expires.IsZero() || l.now().Before(got.Expires.Add(-refreshBefore)))
}

func (l *Logins) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Login returns the login of c; AuthNone gives an empty one.
func (l *Logins) Login(ctx context.Context, c *Connection) (Login, error) {
	switch c.Auth.Method {
	case AuthNone, "":
		return Login{}, nil
	case AuthBasic:
		pw, err := l.Secrets.Reveal(c.Auth.Secret)
		if err != nil {
			return Login{}, fmt.Errorf("registry %s: %w", c.ID, err)
		}
		return Login{Username: c.Auth.Username, Password: pw}, nil
	}
	cacheKey := c.ID + "\x00" + c.Updated
	if got, ok := l.cached(cacheKey); ok {
		return got, nil
	}
	m := l.lock(cacheKey)
	m.Lock()
	defer m.Unlock()
	if got, ok := l.cached(cacheKey); ok {
		return got, nil // another request logged in meanwhile
	}
	cloud, ok := l.Cloud[c.Kind]
	if !ok {
		return Login{}, fmt.Errorf("registry %s: %s cloud logins are not built into this binary (the cloud functions have them); use basic auth", c.ID, c.Kind)
	}
	key, err := l.CloudKey(c)
	if err != nil {
		return Login{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	got, err := cloud.Login(ctx, c, key)
	if err != nil {
		return Login{}, fmt.Errorf("registry %s: login: %w", c.ID, err)
	}
	l.mu.Lock()
	if l.cache == nil {
		l.cache = map[string]Login{}
	}
	l.cache[cacheKey] = got
	l.mu.Unlock()
	return got, nil
}

// Sets gives the connections in force.
type Sets interface {
	Set(ctx context.Context) (*Set, error)
}

// CloudKey returns the cloud credentials of a cloud connection: its own
// AccessKey, or the function role's; nil leaves the cloud SDK's own chain.
func (l *Logins) CloudKey(c *Connection) (*AccessKey, error) {
	if c.Auth.Secret != nil {
		secret, err := l.Secrets.Reveal(c.Auth.Secret)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", c.ID, err)
		}
		return &AccessKey{ID: c.Auth.Username, Secret: secret}, nil
	}
	if role := l.Roles[c.Kind]; role != nil {
		if k, ok := role(); ok {
			return &k, nil
		}
	}
	return nil, nil
}

// Keychain authenticates registry requests: a host of a connection logs in
// as the connection says; other hosts go to fallback (the Docker config on
// the CLI), or anonymously when it is nil.
func (l *Logins) Keychain(sets Sets, fallback authn.Keychain) authn.Keychain {
	return &keychain{l: l, sets: sets, fallback: fallback}
}

type keychain struct {
	l        *Logins
	sets     Sets
	fallback authn.Keychain
}

// Resolve implements authn.Keychain.
func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	set, err := k.sets.Set(context.Background())
	if err != nil {
		return nil, err
	}
	c, ok := set.ForHost(r.RegistryStr())
	if !ok {
		if k.fallback != nil {
			return k.fallback.Resolve(r)
		}
		return authn.Anonymous, nil
	}
	login, err := k.l.Login(context.Background(), c)
	if err != nil {
		return nil, err
	}
	if login.Username == "" && login.Password == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: login.Username, Password: login.Password}), nil
}
