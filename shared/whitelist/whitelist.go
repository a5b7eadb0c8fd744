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

	// Category, when set, limits the rule to findings of one category.
	Category scan.Category `json:"category,omitempty"`
	// Repositories and Images, when set, limit the rule to those
	// repositories (registry/name) and images (registry/name:tag or
	// registry/name@digest); a finding in either is accepted.
	Repositories []string `json:"repositories,omitempty"`
	Images       []string `json:"images,omitempty"`
}

// Target is the image whose findings a list is applied to.
type Target struct {
	// Ref is the reference scanned (registry/name[:tag][@digest]).
	Ref string
	// Tag, when the reference is pinned by digest, is the tag it came from.
	Tag    string
	Digest string
}

// repository is the target's repository.
func (t Target) repository() string { return Repository(t.Ref) }

// names reports whether an image reference names the target.
func (t Target) names(image string) bool {
	repo := t.repository()
	if img, d, ok := strings.Cut(image, "@"); ok {
		return Repository(img) == repo && d == t.Digest
	}
	if image == t.Ref {
		return true
	}
	tag := t.Tag
	if i := strings.LastIndex(t.Ref, ":"); tag == "" && i > strings.LastIndex(t.Ref, "/") && !strings.Contains(t.Ref, "@") {
		tag = t.Ref[i+1:]
	}
	return tag != "" && image == repo+":"+tag
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

// Load reads the store's whitelist: every rule of /v1/whitelists, and the
// legacy document until it has been migrated.
func Load(ctx context.Context, st store.Store) (List, error) {
	var l List
	migrated, err := st.Exists(ctx, storekey.WhitelistMigrated)
	if err != nil {
		return l, err
	}
	if !migrated {
		if l, err = loadLegacy(ctx, st); err != nil {
			return l, err
		}
	}
	entries, err := listEntries(ctx, st)
	if err != nil {
		return l, err
	}
	for _, e := range entries {
		l.Rules = append(l.Rules, e.Rules()...)
	}
	return l, nil
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

// Apply marks the findings the rules accept, for an image t.
func (l List) Apply(fs []scan.Finding, t Target) {
	for i := range fs {
		for _, r := range l.Rules {
			if r.matches(fs[i], t) {
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

func (r Rule) matches(f scan.Finding, t Target) bool {
	if r.Repository != "" && r.Repository != t.repository() {
		return false
	}
	if r.Category != "" && r.Category != f.Category {
		return false
	}
	if len(r.Repositories) > 0 || len(r.Images) > 0 {
		in := false
		for _, repo := range r.Repositories {
			in = in || repo == t.repository()
		}
		for _, img := range r.Images {
			in = in || t.names(img)
		}
		if !in {
			return false
		}
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
