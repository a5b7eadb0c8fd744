package whitelist

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Entry types: the service's two whitelists.
const (
	// Vulnerability rules accept vulnerabilities by ID or alias, for all
	// images or selected repositories and images.
	Vulnerability = "vulnerability"
	// File rules accept at-risk-file alerts (sensitive file, build
	// instruction, malicious sample) by alert ID, for all repositories or
	// one.
	File = "file"
)

// Entry is one whitelist rule as /v1/whitelists manages it, stored at
// storekey.WhitelistRule.
type Entry struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Vulnerabilities are IDs or aliases (CVE-…, GHSA-…); a trailing *
	// is a prefix.
	Vulnerabilities []string `json:"vulnerabilities,omitempty"`
	// Category and AlertID name a file alert: the category and its check ID
	// (LS-SECRET-…, LS-BUILD-…, LS-MALWARE-…; a trailing * is a prefix).
	Category scan.Category `json:"category,omitempty"`
	AlertID  string        `json:"alertID,omitempty"`
	// Path, when set, is a glob over the finding's path.
	Path string `json:"path,omitempty"`
	// Repositories (registry/name) and Images (registry/name:tag or
	// @digest) scope the rule; none is every image. File rules take at
	// most one repository ("this repository only").
	Repositories []string `json:"repositories,omitempty"`
	Images       []string `json:"images,omitempty"`
	Note         string   `json:"note,omitempty"`

	Created   string `json:"created,omitempty"`
	CreatedBy string `json:"createdBy,omitempty"`
	Updated   string `json:"updated,omitempty"`
}

// ErrInvalid marks an entry that cannot be stored; ErrNotFound a missing one.
var (
	ErrInvalid  = errors.New("invalid whitelist rule")
	ErrNotFound = errors.New("no such whitelist rule")
)

var entryIDRe = regexp.MustCompile(`^wl-[0-9a-z-]{1,64}$`)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks an entry as a caller sent it.
func (e Entry) Validate() error {
	const maxItems = 1000
	if len(e.Vulnerabilities) > maxItems || len(e.Repositories) > maxItems || len(e.Images) > maxItems || len(e.Note) > 4096 {
		return invalid("over %d items or a note over 4096 bytes", maxItems)
	}
	switch e.Type {
	case Vulnerability:
		if len(e.Vulnerabilities) == 0 {
			return invalid("vulnerabilities: at least one ID or alias")
		}
		if e.AlertID != "" || e.Category != "" {
			return invalid("alertID and category belong to file rules")
		}
		for i, v := range e.Vulnerabilities {
			if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " /") {
				return invalid("vulnerabilities[%d]: %q is not an ID", i, v)
			}
		}
	case File:
		if e.Category != "" && !slices.Contains([]scan.Category{scan.SensitiveFile, scan.BuildInstruction, scan.MaliciousSample, scan.Baseline}, e.Category) {
			return invalid("category: %q is not sensitive-file, build-instruction, malicious-sample or baseline (empty: any)", e.Category)
		}
		if strings.TrimSpace(e.AlertID) == "" {
			return invalid("alertID is required")
		}
		if len(e.Vulnerabilities) > 0 || len(e.Images) > 0 {
			return invalid("vulnerabilities and images belong to vulnerability rules")
		}
		if len(e.Repositories) > 1 {
			return invalid("repositories: a file rule covers every repository or one")
		}
	default:
		return invalid("type: %q is not vulnerability or file", e.Type)
	}
	if e.Path != "" {
		if !strings.HasPrefix(e.Path, "/") {
			return invalid("path %q must be absolute", e.Path)
		}
		if _, err := path.Match(strings.TrimSuffix(e.Path, "/**"), "/"); err != nil {
			return invalid("path %q: %v", e.Path, err)
		}
	}
	for i, r := range e.Repositories {
		if r == "" || strings.ContainsAny(r, "@ ") {
			return invalid("repositories[%d]: %q is not registry/name", i, r)
		}
	}
	for i, im := range e.Images {
		if !strings.Contains(im, "@") && Repository(im) == im {
			return invalid("images[%d]: %q names no tag or digest", i, im)
		}
	}
	return nil
}

// Rules are the rules an entry stands for.
func (e Entry) Rules() []Rule {
	reason := e.Note
	if reason == "" {
		reason = "whitelisted by rule " + e.ID
	}
	base := Rule{Path: e.Path, Repositories: e.Repositories, Images: e.Images, Reason: reason}
	if e.Type == File {
		base.ID, base.Category = e.AlertID, e.Category
		return []Rule{base}
	}
	var out []Rule
	for _, v := range e.Vulnerabilities {
		r := base
		r.ID = v
		out = append(out, r)
	}
	return out
}

// Entries is the rule store.
type Entries struct {
	Store store.Store
	Now   func() time.Time
}

func (s *Entries) now() string {
	if s.Now != nil {
		return s.Now().UTC().Format(time.RFC3339)
	}
	return time.Now().UTC().Format(time.RFC3339)
}

// List returns every entry, in ID order, after migrating the legacy
// document once.
func (s *Entries) List(ctx context.Context) ([]Entry, error) {
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return listEntries(ctx, s.Store)
}

func listEntries(ctx context.Context, st store.Store) ([]Entry, error) {
	keys, err := st.List(ctx, storekey.WhitelistRulesPrefix)
	if err != nil {
		return nil, err
	}
	out := []Entry{}
	for _, k := range keys {
		var e Entry
		if err := store.GetJSON(ctx, st, k, &e); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted since the listing
			}
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Get returns one entry.
func (s *Entries) Get(ctx context.Context, id string) (Entry, error) {
	var e Entry
	if !entryIDRe.MatchString(id) {
		return e, ErrNotFound
	}
	if err := s.migrate(ctx); err != nil {
		return e, err
	}
	err := store.GetJSON(ctx, s.Store, storekey.WhitelistRule(id), &e)
	if errors.Is(err, store.ErrNotFound) {
		return e, ErrNotFound
	}
	return e, err
}

// Create stores a new entry and returns it with its ID.
func (s *Entries) Create(ctx context.Context, e Entry, who string) (Entry, error) {
	if err := e.Validate(); err != nil {
		return e, err
	}
	if err := s.migrate(ctx); err != nil {
		return e, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	e.ID, e.Created, e.CreatedBy, e.Updated = "wl-"+hex.EncodeToString(b[:]), s.now(), who, ""
	if _, err := store.PutJSONIfAbsent(ctx, s.Store, storekey.WhitelistRule(e.ID), e); err != nil {
		return e, err
	}
	return e, nil
}

// Update replaces an entry, keeping its ID and creation.
func (s *Entries) Update(ctx context.Context, id string, e Entry) (Entry, error) {
	old, err := s.Get(ctx, id)
	if err != nil {
		return e, err
	}
	if err := e.Validate(); err != nil {
		return e, err
	}
	e.ID, e.Created, e.CreatedBy, e.Updated = id, old.Created, old.CreatedBy, s.now()
	return e, store.PutJSON(ctx, s.Store, storekey.WhitelistRule(id), e)
}

// Delete removes an entry.
func (s *Entries) Delete(ctx context.Context, id string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	return s.Store.Delete(ctx, storekey.WhitelistRule(id))
}

// migrate reads the legacy document (storekey.Whitelist) into entries
// once: each of its rules becomes an entry with a fixed ID, so that two
// migrations at once create each entry once.
func (s *Entries) migrate(ctx context.Context) error {
	if done, err := s.Store.Exists(ctx, storekey.WhitelistMigrated); err != nil || done {
		return err
	}
	legacy, err := loadLegacy(ctx, s.Store)
	if err != nil {
		return err
	}
	for i, r := range legacy.Rules {
		e := Entry{ID: fmt.Sprintf("wl-legacy-%d", i+1), Path: r.Path, Note: r.Reason, Created: s.now(), CreatedBy: "migrated from " + Key}
		if r.Repository != "" {
			e.Repositories = []string{r.Repository}
		}
		e.Type, e.Vulnerabilities = Vulnerability, []string{r.ID}
		if strings.HasPrefix(r.ID, "LS-") {
			e.Type, e.Vulnerabilities, e.AlertID = File, nil, r.ID
			e.Category = categoryOf(r.ID)
		}
		if _, err := store.PutJSONIfAbsent(ctx, s.Store, storekey.WhitelistRule(e.ID), e); err != nil {
			return err
		}
	}
	_, err = s.Store.PutIfAbsent(ctx, storekey.WhitelistMigrated, []byte(s.now()))
	return err
}

// categoryOf is the category of a legacy rule's check ID ("": any).
func categoryOf(id string) scan.Category {
	switch {
	case strings.HasPrefix(id, "LS-BASELINE-"):
		return scan.Baseline
	case strings.HasPrefix(id, "LS-SECRET-"):
		return scan.SensitiveFile
	case strings.HasPrefix(id, "LS-BUILD-"):
		return scan.BuildInstruction
	case strings.HasPrefix(id, "LS-MALWARE-"):
		return scan.MaliciousSample
	}
	return ""
}

func loadLegacy(ctx context.Context, st store.Store) (List, error) {
	b, err := st.Get(ctx, Key)
	if errors.Is(err, store.ErrNotFound) {
		return List{}, nil
	}
	if err != nil {
		return List{}, err
	}
	return Parse(b)
}
