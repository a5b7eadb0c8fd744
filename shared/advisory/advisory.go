// Package advisory ingests advisory feeds (the osv.dev export layout in JSON
// or YAML, Alpine secdb), normalises them into one index per ecosystem, and
// publishes that as a versioned DB in the store:
//
//	advisories/<version>/manifest.json
//	advisories/<version>/ecosystems/<ecosystem>.json.zst
//	advisories/current                      the live version
package advisory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Event is one OSV range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty" yaml:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty" yaml:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty" yaml:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty" yaml:"limit,omitempty"`
}

// Range is an OSV range of type ECOSYSTEM or SEMVER (GIT ranges are dropped at ingest).
type Range struct {
	Type   string  `json:"type"`
	Events []Event `json:"events"`
}

// Entry is one advisory as it affects one package of one ecosystem.
type Entry struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	// Related IDs (OSV "related", e.g. the CVEs an ALSA errata fixes) are
	// shown but never merged on: two errata fixing one CVE stay two findings.
	Related  []string      `json:"related,omitempty"`
	Summary  string        `json:"summary,omitempty"`
	Severity scan.Severity `json:"severity"`
	Ranges   []Range       `json:"ranges,omitempty"`
	Versions []string      `json:"versions,omitempty"`
	// FixNote says, for an advisory without a fix, whether one is planned
	// ("the vendor will not fix it (Will not fix)").
	FixNote string `json:"fixNote,omitempty"`
}

// Index holds every entry of one ecosystem, by package name. A published
// index is loaded as raw lines and a package's entries are decoded the
// first time a scan asks for them: an image has a few hundred packages,
// an ecosystem tens of thousands of records.
type Index struct {
	Ecosystem string             `json:"ecosystem"`
	Packages  map[string][]Entry `json:"packages"`

	mu  sync.Mutex
	raw map[string][]byte // name → JSON array of entries, not decoded yet
}

// Entries returns the entries of one package name.
func (ix *Index) Entries(name string) ([]Entry, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if es, ok := ix.Packages[name]; ok || ix.raw == nil {
		return es, nil
	}
	raw, ok := ix.raw[name]
	if !ok {
		return nil, nil
	}
	var es []Entry
	if err := json.Unmarshal(raw, &es); err != nil {
		return nil, fmt.Errorf("advisory index %s, package %s: %w", ix.Ecosystem, name, err)
	}
	if ix.Packages == nil {
		ix.Packages = map[string][]Entry{}
	}
	ix.Packages[name] = es
	delete(ix.raw, name)
	return es, nil
}

// encodeLines writes an index as one line per package, sorted:
// "<name>\t<JSON array of entries>\n". Names never hold tabs or newlines.
func encodeLines(ix *Index) ([]byte, error) {
	names := make([]string, 0, len(ix.Packages))
	for n := range ix.Packages {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range names {
		if strings.ContainsAny(n, "\t\n") {
			return nil, fmt.Errorf("package name %q has a tab or newline", n)
		}
		b, err := json.Marshal(ix.Packages[n])
		if err != nil {
			return nil, err
		}
		buf.WriteString(n)
		buf.WriteByte('\t')
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// decodeLines reads encodeLines' format without decoding any entry.
func decodeLines(eco string, b []byte) (*Index, error) {
	ix := &Index{Ecosystem: eco, raw: map[string][]byte{}}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		name, entries, ok := bytes.Cut(line, []byte{'\t'})
		if !ok {
			return nil, fmt.Errorf("advisory index %s: malformed line", eco)
		}
		ix.raw[string(name)] = entries
	}
	return ix, nil
}

// Source describes one feed that went into a DB version.
type Source struct {
	Name    string `json:"name"`
	Records int    `json:"records"`
	Note    string `json:"note,omitempty"`
}

// Manifest describes one published DB version.
type Manifest struct {
	Version    string                    `json:"version"`
	Created    string                    `json:"created"`
	Sources    []Source                  `json:"sources"`
	Ecosystems map[string]EcosystemStats `json:"ecosystems"`
	// NVD is the key of the NVD ratings by CVE, when the mirror had any.
	NVD string `json:"nvd,omitempty"`
}

// EcosystemStats counts one ecosystem's index.
type EcosystemStats struct {
	Packages int    `json:"packages"`
	Entries  int    `json:"entries"`
	Key      string `json:"key"`
}

// ErrNoDB means no advisory DB has been published to the store yet.
var ErrNoDB = errors.New("no advisory DB in the store: run 'layerscan db sync'")

// CanonicalEcosystem folds ecosystem spellings that mean the same release,
// as osv.dev's exports spell them (ossf/osv-schema's ecosystem table):
//   - Ubuntu records say "Ubuntu:24.04:LTS" where the image says 24.04;
//   - Red Hat's are a CPE stream, "Red Hat:enterprise_linux:8::appstream",
//     "Red Hat:rhel_eus:8.4::baseos": every stream of a major release is
//     "Red Hat:enterprise_linux:8", as the image's release is all it knows;
//   - SUSE's are a product's marketing name, "SUSE:Linux Enterprise Module
//     for Basesystem 15 SP3": every product of a service pack is
//     "SUSE:Linux Enterprise Server 15 SP3";
//   - openSUSE's are the PRETTY_NAME, "openSUSE:openSUSE Leap 15.3", or
//     "openSUSE:Leap 15.3": both are "openSUSE:Leap 15.3".
func CanonicalEcosystem(e string) string {
	switch {
	case strings.HasPrefix(e, "Ubuntu:") && !strings.HasPrefix(e, "Ubuntu:Pro:"):
		e = strings.TrimSuffix(e, ":LTS")
	case strings.HasPrefix(e, "Red Hat:"):
		if m := redHatStream.FindStringSubmatch(e); m != nil {
			e = "Red Hat:enterprise_linux:" + m[1]
		}
	case strings.HasPrefix(e, "SUSE:"):
		if m := suseServicePack.FindStringSubmatch(e); m != nil && strings.Contains(e, "Linux Enterprise") {
			e = "SUSE:Linux Enterprise Server " + m[1] + " SP" + m[2]
		}
	case strings.HasPrefix(e, "openSUSE:openSUSE Leap "):
		e = "openSUSE:Leap " + strings.TrimPrefix(e, "openSUSE:openSUSE Leap ")
	}
	return e
}

var (
	redHatStream    = regexp.MustCompile(`^Red Hat:(?:enterprise_linux|rhel_eus|rhel_els|rhel_aus|rhel_e4s|rhel_tus):(\d+)(?:[.:]|$)`)
	suseServicePack = regexp.MustCompile(`\b(\d+) SP(\d+)\b`)
)

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// PackageKey is the index key of a package name in one ecosystem. Names that
// the ecosystem treats as equal fold to one key: PyPI compares PEP 503
// normalized names ("PyYAML", "pyyaml"; "zope.interface", "zope-interface"),
// NuGet and Packagist are case-insensitive. Lookups must use it too.
func PackageKey(eco, name string) string {
	switch eco {
	case "PyPI":
		return strings.ToLower(pypiSeparators.ReplaceAllString(name, "-"))
	case "NuGet", "Packagist":
		return strings.ToLower(name)
	}
	return name
}

// DB is a loaded DB version; indexes load lazily per ecosystem.
type DB struct {
	st       store.Store
	Manifest Manifest
	mu       sync.Mutex
	indexes  map[string]*Index
	nvd      map[string]Rating
}

// Current loads the manifest of the live DB version.
func Current(ctx context.Context, st store.Store) (*DB, error) {
	v, err := st.Get(ctx, storekey.AdvisoryCurrent)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoDB
	}
	if err != nil {
		return nil, err
	}
	version := strings.TrimSpace(string(v))
	if db := cached(st, version); db != nil {
		return db, nil
	}
	db, err := Open(ctx, st, version)
	if err != nil {
		return nil, err
	}
	remember(st, version, db)
	return db, nil
}

// A process keeps the DB versions it loaded, with the indexes it decoded:
// a function instance builds report after report against the same
// version, and reading its manifest and indexes again for each cost the
// store most of a report's requests and bytes. Versions are immutable, so
// the cache is keyed by store and version and never invalidated; the
// oldest goes when more than dbCacheSize are held.
const dbCacheSize = 2

type dbKey struct {
	st      store.Store
	version string
}

var dbCache struct {
	sync.Mutex
	order []dbKey
	dbs   map[dbKey]*DB
}

func cacheable(st store.Store) bool { return reflect.TypeOf(st).Comparable() }

func cached(st store.Store, version string) *DB {
	if !cacheable(st) {
		return nil
	}
	dbCache.Lock()
	defer dbCache.Unlock()
	return dbCache.dbs[dbKey{st, version}]
}

func remember(st store.Store, version string, db *DB) {
	if !cacheable(st) {
		return
	}
	dbCache.Lock()
	defer dbCache.Unlock()
	if dbCache.dbs == nil {
		dbCache.dbs = map[dbKey]*DB{}
	}
	k := dbKey{st, version}
	if _, ok := dbCache.dbs[k]; ok {
		return
	}
	dbCache.dbs[k] = db
	dbCache.order = append(dbCache.order, k)
	if len(dbCache.order) > dbCacheSize {
		delete(dbCache.dbs, dbCache.order[0])
		dbCache.order = dbCache.order[1:]
	}
}

// Open loads the manifest of one DB version.
func Open(ctx context.Context, st store.Store, version string) (*DB, error) {
	db := &DB{st: st, indexes: map[string]*Index{}}
	if err := store.GetJSON(ctx, st, storekey.AdvisoryManifest(version), &db.Manifest); err != nil {
		return nil, fmt.Errorf("advisory DB %s: %w", version, err)
	}
	return db, nil
}

// Has reports whether the DB covers an ecosystem at all.
func (db *DB) Has(eco string) bool {
	_, ok := db.Manifest.Ecosystems[CanonicalEcosystem(eco)]
	return ok
}

// Index returns the index of one ecosystem; an uncovered one yields (nil, nil).
func (db *DB) Index(ctx context.Context, eco string) (*Index, error) {
	eco = CanonicalEcosystem(eco)
	db.mu.Lock()
	defer db.mu.Unlock()
	if ix, ok := db.indexes[eco]; ok {
		return ix, nil
	}
	st, ok := db.Manifest.Ecosystems[eco]
	if !ok {
		return nil, nil
	}
	var ix *Index
	if strings.HasSuffix(st.Key, ".json.zst") {
		// DB versions published before the line format
		ix = &Index{}
		if err := store.GetJSON(ctx, db.st, st.Key, ix); err != nil {
			return nil, fmt.Errorf("advisory DB %s, ecosystem %s: %w", db.Manifest.Version, eco, err)
		}
	} else {
		b, err := db.st.Get(ctx, st.Key)
		if err == nil {
			b, err = store.Decompress(b)
		}
		if err == nil {
			ix, err = decodeLines(eco, b)
		}
		if err != nil {
			return nil, fmt.Errorf("advisory DB %s, ecosystem %s: %w", db.Manifest.Version, eco, err)
		}
	}
	db.indexes[eco] = ix
	return ix, nil
}

// Publish writes a DB version and makes it current. Indexes are written
// before the manifest, and the manifest before the pointer, so a reader
// never sees a version that is not whole.
func Publish(ctx context.Context, st store.Store, b *Builder, created string) (*Manifest, error) {
	m := &Manifest{Version: b.version(created), Created: created, Sources: b.sources, Ecosystems: map[string]EcosystemStats{}}
	ecos := make([]string, 0, len(b.indexes))
	for e := range b.indexes {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	for _, e := range ecos {
		ix := b.indexes[e]
		n := 0
		for _, es := range ix.Packages {
			n += len(es)
		}
		key := storekey.AdvisoryEcosystem(m.Version, e)
		lines, err := encodeLines(ix)
		if err != nil {
			return nil, err
		}
		if err := st.Put(ctx, key, store.Compress(lines)); err != nil {
			return nil, err
		}
		m.Ecosystems[e] = EcosystemStats{Packages: len(ix.Packages), Entries: n, Key: key}
	}
	if err := publishNVD(ctx, st, b, m); err != nil {
		return nil, err
	}
	if err := store.PutJSON(ctx, st, storekey.AdvisoryManifest(m.Version), m); err != nil {
		return nil, err
	}
	if err := st.Put(ctx, storekey.AdvisoryCurrent, []byte(m.Version+"\n")); err != nil {
		return nil, err
	}
	return m, nil
}
