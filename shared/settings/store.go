package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/notify"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// ErrConflict means the document changed since the version the write was
// based on (HTTP 412).
var ErrConflict = errors.New("the settings changed since the version this write is based on: read them again")

// legacyPeriodic is config/periodic.json, the scope before settings.
type legacyPeriodic struct {
	Targets []struct {
		Registry     string   `json:"registry"`
		Repositories []string `json:"repositories"`
		Tags         []string `json:"tags"`
	} `json:"targets"`
}

// Load reads the current settings; with none written, the defaults with
// the scope of a legacy config/periodic.json (version 0).
func Load(ctx context.Context, st store.Store) (Settings, error) {
	keys, err := st.List(ctx, storekey.SettingsPrefix)
	if err != nil {
		return Settings{}, fmt.Errorf("settings: %w", err)
	}
	latest, key := -1, ""
	for _, k := range keys {
		if n, ok := storekey.SettingsVersionOf(k); ok && n > latest {
			latest, key = n, k
		}
	}
	if key == "" {
		return legacy(ctx, st)
	}
	b, err := st.Get(ctx, key)
	if err != nil {
		return Settings{}, fmt.Errorf("settings: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return Settings{}, fmt.Errorf("settings version %d: %w", latest, err)
	}
	s.Version = latest
	return s, nil
}

func legacy(ctx context.Context, st store.Store) (Settings, error) {
	s := Default()
	var p legacyPeriodic
	err := store.GetJSON(ctx, st, storekey.Periodic, &p)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w", storekey.Periodic, err)
	}
	for _, t := range p.Targets {
		r := Rule{Registry: t.Registry, Repositories: t.Repositories}
		var alts []string
		for _, tag := range t.Tags {
			if pre, ok := strings.CutSuffix(tag, "*"); ok {
				alts = append(alts, regexpQuote(pre)+".*")
			} else {
				alts = append(alts, regexpQuote(tag))
			}
		}
		r.TagRegex = strings.Join(alts, "|")
		s.Scan.Scope = append(s.Scan.Scope, r)
	}
	return s, s.Validate()
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Save writes s as the version after base (the version the caller read;
// -1 means whatever is current). It fails with ErrConflict when base is
// stale or another writer created the next version first.
func Save(ctx context.Context, st store.Store, s Settings, base int, who string, now time.Time) (Settings, error) {
	return SaveWith(ctx, st, s, base, who, now, registries.Secrets{})
}

// SaveWith is Save with the secrets that seal notification secrets.
func SaveWith(ctx context.Context, st store.Store, s Settings, base int, who string, now time.Time, secrets registries.Secrets) (Settings, error) {
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	prev, err := Load(ctx, st)
	if err != nil {
		return Settings{}, err
	}
	if base >= 0 && base != prev.Version {
		return Settings{}, fmt.Errorf("version %d is not the current %d: %w", base, prev.Version, ErrConflict)
	}
	if err := sealTargets(&s, prev, secrets); err != nil {
		return Settings{}, err
	}
	s.Stamp(prev, who, now)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return Settings{}, err
	}
	created, err := st.PutIfAbsent(ctx, storekey.SettingsVersion(s.Version), b)
	if err != nil {
		return Settings{}, fmt.Errorf("settings: %w", err)
	}
	if !created {
		return Settings{}, fmt.Errorf("version %d was written meanwhile: %w", s.Version, ErrConflict)
	}
	return s, nil
}

// ETag of a version, as HTTP sends it.
func ETag(version int) string { return fmt.Sprintf(`"v%d"`, version) }

// ParseETag reads an If-Match value: a version's ETag, or "" / "*" for
// whatever is current (-1).
func ParseETag(v string) (int, error) {
	v = strings.TrimSpace(strings.TrimPrefix(v, "W/"))
	if v == "" || v == "*" {
		return -1, nil
	}
	var n int
	if _, err := fmt.Sscanf(v, `"v%d"`, &n); err != nil || ETag(n) != v {
		return 0, &FieldError{Field: "If-Match", Err: fmt.Errorf("%q is not an ETag of the settings", v)}
	}
	return n, nil
}

// sealTargets encrypts the notification secrets written as values, and
// keeps a previous secret that comes back masked (as GET showed it).
func sealTargets(s *Settings, prev Settings, secrets registries.Secrets) error {
	for i := range s.Notifications {
		t := &s.Notifications[i]
		var old *notify.Target
		for j := range prev.Notifications {
			if prev.Notifications[j].ID == t.ID {
				old = &prev.Notifications[j]
			}
		}
		for _, pair := range []struct {
			s   **registries.Secret
			was *registries.Secret
		}{{&t.Token, oldField(old, true)}, {&t.Secret, oldField(old, false)}} {
			sec := *pair.s
			if sec != nil && sec.Encrypted == "****" {
				if pair.was == nil {
					return &FieldError{Field: fmt.Sprintf("notifications[%d]", i), Err: fmt.Errorf("a masked secret for a new target %q: send the value", t.ID)}
				}
				*pair.s = pair.was
				continue
			}
			if err := secrets.Seal(sec); err != nil {
				return &FieldError{Field: fmt.Sprintf("notifications[%d]", i), Err: err}
			}
		}
	}
	return nil
}

func oldField(t *notify.Target, token bool) *registries.Secret {
	switch {
	case t == nil:
		return nil
	case token:
		return t.Token
	}
	return t.Secret
}
