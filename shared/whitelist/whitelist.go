// Package whitelist marks accepted findings: a rule names a check ID (or a
// vulnerability ID or alias), optionally a path glob, and optionally one
// repository. Whitelisted findings stay in the report, marked with the
// rule's reason, and leave the summary counts and the exit code.
package whitelist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Rule accepts findings.
type Rule struct {
	// ID is a check ID (LS-BASELINE-SUID), an advisory ID or alias
	// (CVE-2024-1234), or a prefix ending in * (LS-BUILD-*).
	ID string `json:"id"`
	// Path, when set, is a glob over the finding's absolute path:
	// path.Match syntax, plus a trailing /** for a whole tree.
	Path string `json:"path,omitempty"`
	// Repository, when set, limits the rule to one image repository
	// (registry/name, without tag or digest); empty means every repository.
	Repository string `json:"repository,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// List is the whitelist document, as stored at Key.
type List struct {
	Rules []Rule `json:"rules"`
}

// Key is where the shared whitelist lives in the store.
const Key = storekey.Whitelist

// Parse reads and validates a whitelist document.
func Parse(b []byte) (List, error) {
	var l List
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return List{}, fmt.Errorf("whitelist: %w", err)
	}
	for i, r := range l.Rules {
		if strings.TrimSpace(r.ID) == "" {
			return List{}, fmt.Errorf("whitelist rule %d: id is required", i+1)
		}
		if r.Path != "" {
			if !strings.HasPrefix(r.Path, "/") {
				return List{}, fmt.Errorf("whitelist rule %d: path %q must be absolute", i+1, r.Path)
			}
			if _, err := path.Match(strings.TrimSuffix(r.Path, "/**"), "/"); err != nil {
				return List{}, fmt.Errorf("whitelist rule %d: path %q: %w", i+1, r.Path, err)
			}
		}
	}
	return l, nil
}

// Load reads the store's whitelist; none is an empty list.
func Load(ctx context.Context, st store.Store) (List, error) {
	b, err := st.Get(ctx, Key)
	if errors.Is(err, store.ErrNotFound) {
		return List{}, nil
	}
	if err != nil {
		return List{}, err
	}
	return Parse(b)
}

// Fingerprint identifies the rules: reports built under other rules are
// not reused.
func (l List) Fingerprint() string {
	if len(l.Rules) == 0 {
		return ""
	}
	b, _ := json.Marshal(l.Rules)
	sum := sha256.Sum256(b)
	return "wl-" + hex.EncodeToString(sum[:6])
}

// Repository strips the tag and digest from an image reference.
func Repository(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// Apply marks the findings the rules accept, for an image of repository repo.
func (l List) Apply(fs []scan.Finding, repo string) {
	for i := range fs {
		for _, r := range l.Rules {
			if r.matches(fs[i], repo) {
				fs[i].Whitelisted = true
				fs[i].WhitelistReason = r.Reason
				if fs[i].WhitelistReason == "" {
					fs[i].WhitelistReason = "whitelisted by rule " + r.ID
				}
				break
			}
		}
	}
}

func (r Rule) matches(f scan.Finding, repo string) bool {
	if r.Repository != "" && r.Repository != repo {
		return false
	}
	if r.Path != "" && !matchPath(r.Path, f.Path) {
		return false
	}
	if matchID(r.ID, f.ID) {
		return true
	}
	for _, a := range f.Aliases {
		if matchID(r.ID, a) {
			return true
		}
	}
	return false
}

func matchID(pattern, id string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(id, p)
	}
	return pattern == id
}

func matchPath(pattern, p string) bool {
	if p == "" {
		return false
	}
	if dir, ok := strings.CutSuffix(pattern, "/**"); ok {
		return p == dir || strings.HasPrefix(p, dir+"/")
	}
	ok, _ := path.Match(pattern, p)
	return ok
}
