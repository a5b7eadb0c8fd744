package registries

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/layerscan/layerscan/shared/store"
)

func basic(id, host string, sec *Secret) *Connection {
	return &Connection{ID: id, Kind: Harbor, Hosts: []string{host}, Auth: Auth{Method: AuthBasic, Username: "robot$scanner", Secret: sec}}
}

func TestValidate(t *testing.T) {
	ok := basic("harbor", "harbor.example.com", &Secret{Env: "HARBOR_SECRET"})
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, mutate := range map[string]func(*Connection){
		"id":             func(c *Connection) { c.ID = "../x" },
		"kind":           func(c *Connection) { c.Kind = "dockerhub" },
		"hosts":          func(c *Connection) { c.Hosts = nil },
		"hosts[0]":       func(c *Connection) { c.Hosts = []string{"http://x"} },
		"insecure":       func(c *Connection) { c.Insecure = true },
		"auth":           func(c *Connection) { c.Auth.Username = "" },
		"auth.secret":    func(c *Connection) { c.Auth.Secret = &Secret{Env: "A", File: "/b"} },
		"auth.method":    func(c *Connection) { c.Auth.Method = "cloud" },
		"imagesPerHour":  func(c *Connection) { c.ImagesPerHour = -5 },
		"api":            func(c *Connection) { c.API = "ftp://x" },
		"extraHosts[0]":  func(c *Connection) { c.ExtraHosts = []string{"a b"} },
		"secret.file":    func(c *Connection) { c.Auth.Secret = &Secret{File: "relative"} },
		"secret.encrypt": func(c *Connection) { c.Auth.Secret = &Secret{Encrypted: "plain"} },
	} {
		c := *ok
		c.Auth.Secret = &Secret{Env: "HARBOR_SECRET"}
		mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", field, err)
		}
	}
	loop := &Connection{ID: "lab", Kind: Generic, Hosts: []string{"127.0.0.1:5000", "localhost:5001", "[::1]:5002"}, Insecure: true, Auth: Auth{Method: AuthNone}}
	if err := loop.Validate(); err != nil {
		t.Errorf("plain HTTP on loopback: %v", err)
	}
	acr := &Connection{ID: "ee", Kind: ACREE, Hosts: []string{"i-registry.cn-hangzhou.cr.aliyuncs.com"}, Auth: Auth{Method: AuthCloud}}
	if err := acr.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "instanceId") {
		t.Errorf("acr-ee without instance: %v", err)
	}
	acr.Region, acr.InstanceID = "cn-hangzhou", "cri-x"
	if err := acr.Validate(); err != nil {
		t.Errorf("acr-ee: %v", err)
	}
	if h := (&Connection{Kind: Harbor}).Throttle(); h != 10 {
		t.Errorf("Harbor's default throttle %d", h)
	}
}

func TestSecrets(t *testing.T) {
	env := map[string]string{SecretKeyEnv: "a passphrase", "PW": "from-env"}
	r := Secrets{Getenv: func(k string) string { return env[k] }}
	file := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	s := &Secret{Value: "s3cret-value"}
	if err := r.Seal(s); err != nil || s.Value != "" || !strings.HasPrefix(s.Encrypted, "v1:") || strings.Contains(s.Encrypted, "s3cret") {
		t.Fatalf("seal: %+v %v", s, err)
	}
	for _, c := range []struct {
		s    *Secret
		want string
	}{{s, "s3cret-value"}, {&Secret{Env: "PW"}, "from-env"}, {&Secret{File: file}, "from-file"}} {
		if got, err := r.Reveal(c.s); err != nil || got != c.want {
			t.Errorf("%+v: %q %v", c.s, got, err)
		}
	}
	env[SecretKeyEnv] = "another key"
	if _, err := r.Reveal(s); err == nil {
		t.Error("decrypted with the wrong key")
	}
	delete(env, SecretKeyEnv)
	if err := r.Seal(&Secret{Value: "x"}); err == nil || !strings.Contains(err.Error(), SecretKeyEnv) {
		t.Errorf("seal without a key: %v", err)
	}
	if _, err := r.Reveal(&Secret{Env: "UNSET"}); err == nil {
		t.Error("an unset variable revealed")
	}
}

func newStore(t *testing.T, env map[string]string) *Store {
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &Store{Store: st, Secrets: Secrets{Getenv: func(k string) string { return env[k] }}}
}

func TestStoreCRUD(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{SecretKeyEnv: "k", "ALIBABA_CLOUD_REGION": "cn-hangzhou", "LAYERSCAN_ACR_INSTANCE_ID": "cri-1", "LAYERSCAN_ACR_INSTANCE_NAME": "team"}
	s := newStore(t, env)
	cs, err := s.List(ctx)
	if err != nil || len(cs) != 2 || cs[0].ID != DefaultPersonal || cs[1].ID != DefaultEnterprise {
		t.Fatalf("defaults: %v %v", cs, err)
	}
	if !cs[1].Serves("team-registry-vpc.cn-hangzhou.cr.aliyuncs.com") || cs[1].Auth.Method != AuthCloud || !cs[0].Serves("registry.cn-hangzhou.aliyuncs.com") {
		t.Errorf("defaults %+v %+v", cs[0], cs[1])
	}
	for _, id := range []string{DefaultPersonal, DefaultEnterprise} {
		if err := s.Delete(ctx, id); !errors.Is(err, ErrBuiltin) {
			t.Errorf("delete %s: %v", id, err)
		}
	}
	c := basic("harbor", "harbor.example.com", &Secret{Value: "robot-secret-123"})
	if err := s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, basic("harbor", "h2.example.com", &Secret{Env: "X"})); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	keys, _ := s.Store.List(ctx, "")
	for _, k := range keys {
		b, _ := s.Store.Get(ctx, k)
		if strings.Contains(string(b), "robot-secret-123") {
			t.Errorf("%s holds the secret in the clear", k)
		}
	}
	got, err := s.Get(ctx, "harbor")
	if err != nil || got.Auth.Secret.Encrypted == "" || got.Masked().Auth.Secret.Encrypted != "****" {
		t.Fatalf("get: %+v %v", got, err)
	}
	// PUT back what GET answered (masked): the secret stays.
	masked := got.Masked()
	masked.Hosts = append(masked.Hosts, "harbor-vpc.example.com")
	if err := s.Update(ctx, "harbor", &masked); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(ctx, "harbor")
	if pw, err := s.Secrets.Reveal(got.Auth.Secret); err != nil || pw != "robot-secret-123" || len(got.Hosts) != 2 {
		t.Errorf("after update: %+v %q %v", got, pw, err)
	}
	if err := s.Delete(ctx, "harbor"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "harbor"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if _, err := s.Get(ctx, "../../etc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a path as ID: %v", err)
	}
}

type fakeCloud struct {
	calls int
	ttl   time.Duration
	now   func() time.Time
	key   *AccessKey
}

func (f *fakeCloud) Login(_ context.Context, c *Connection, key *AccessKey) (Login, error) {
	f.calls++
	f.key = key
	return Login{Username: "cr_temp_user", Password: "tok-" + c.ID, Expires: f.now().Add(f.ttl)}, nil
}

func TestLoginsCacheAndRefresh(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cloud := &fakeCloud{ttl: time.Hour, now: clock}
	l := &Logins{Cloud: map[Kind]CloudLogin{ACREE: cloud}, Now: clock, Roles: map[Kind]func() (AccessKey, bool){ACREE: func() (AccessKey, bool) { return AccessKey{ID: "STS.role", Secret: "s", Token: "t"}, true }}}
	c := &Connection{ID: "ee", Kind: ACREE, Hosts: []string{"team-registry.cn-hangzhou.cr.aliyuncs.com"}, Region: "cn-hangzhou", InstanceID: "cri-1", Auth: Auth{Method: AuthCloud}}
	for i := 0; i < 3; i++ {
		if got, err := l.Login(context.Background(), c); err != nil || got.Password != "tok-ee" {
			t.Fatalf("login: %+v %v", got, err)
		}
	}
	if cloud.calls != 1 || cloud.key == nil || cloud.key.ID != "STS.role" {
		t.Errorf("%d cloud calls with %+v, want one with the role's key", cloud.calls, cloud.key)
	}
	now = now.Add(56 * time.Minute) // within refreshBefore of the expiry
	l.Login(context.Background(), c)
	if cloud.calls != 2 {
		t.Errorf("not refreshed before expiry: %d calls", cloud.calls)
	}
	// The keychain hands the login to go-containerregistry for that host only.
	kc := l.Keychain(staticSets{NewSet([]*Connection{c})}, nil)
	reg, _ := name.NewRegistry("team-registry.cn-hangzhou.cr.aliyuncs.com")
	a, err := kc.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := a.Authorization()
	if cfg.Username != "cr_temp_user" || cfg.Password != "tok-ee" {
		t.Errorf("keychain: %+v", cfg)
	}
	other, _ := name.NewRegistry("elsewhere.example.com")
	if a, _ := kc.Resolve(other); a != authn.Anonymous {
		t.Errorf("another host got %v", a)
	}
	// A binary without the kind's cloud login says so.
	if _, err := (&Logins{}).Login(context.Background(), c); err == nil || !strings.Contains(err.Error(), "not built into") {
		t.Errorf("no cloud login: %v", err)
	}
}

type staticSets struct{ s *Set }

func (s staticSets) Set(context.Context) (*Set, error) { return s.s, nil }

func TestReaches(t *testing.T) {
	c := &Connection{Hosts: []string{"team-registry.cn-hangzhou.cr.aliyuncs.com"}, ExtraHosts: []string{"*.oss-cn-hangzhou.aliyuncs.com", "auth.example.com"}}
	for host, want := range map[string]bool{
		"team-registry.cn-hangzhou.cr.aliyuncs.com":                  true,
		"cri-x.oss-cn-hangzhou.aliyuncs.com":                         true,
		"cri-x.oss-cn-hangzhou.aliyuncs.com:443":                     true,
		"auth.example.com":                                           true,
		"evil.example.com":                                           false,
		"oss-cn-hangzhou.aliyuncs.com.evil.example.com":              false,
		"team-registry.cn-hangzhou.cr.aliyuncs.com.evil.example.com": false,
	} {
		if c.Reaches(host) != want {
			t.Errorf("Reaches(%s) = %v", host, !want)
		}
	}
	set := NewSet([]*Connection{c})
	if set.Named("cri-x.oss-cn-hangzhou.aliyuncs.com") || !set.Named("auth.example.com") {
		t.Error("a wildcard made a host named")
	}
}
