package advisory

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/layerscan/layerscan/shared/scan"
)

// Builder accumulates normalised entries from any number of feeds.
type Builder struct {
	indexes map[string]*Index
	// nvd holds NVD's ratings by CVE; nvdFiles and nvdCVEs count them.
	nvd                    map[string]Rating
	nvdFiles, nvdCVEs      int
	csafFiles, csafEntries int
	sources                []Source
	hash                   []byte
}

// NewBuilder starts an empty DB.
func NewBuilder() *Builder { return &Builder{indexes: map[string]*Index{}} }

func (b *Builder) add(eco, name string, e Entry) {
	eco = CanonicalEcosystem(eco)
	ix := b.indexes[eco]
	if ix == nil {
		ix = &Index{Ecosystem: eco, Packages: map[string][]Entry{}}
		b.indexes[eco] = ix
	}
	name = PackageKey(eco, name)
	ix.Packages[name] = append(ix.Packages[name], e)
}

func (b *Builder) version(created string) string {
	h := sha256.New()
	h.Write(b.hash)
	for _, s := range b.sources {
		fmt.Fprintf(h, "%s=%d;", s.Name, s.Records)
	}
	t, err := time.Parse(time.RFC3339, created)
	if err != nil {
		t = time.Now().UTC()
	}
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(h.Sum(nil))[:10]
}

// osvRecord is the part of the OSV schema layerscan uses.
type osvRecord struct {
	ID        string        `json:"id"`
	Aliases   []string      `json:"aliases"`
	Related   []string      `json:"related"`
	Summary   string        `json:"summary"`
	Details   string        `json:"details"`
	Withdrawn string        `json:"withdrawn"`
	Severity  []osvSeverity `json:"severity"`
	Affected  []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges           []Range        `json:"ranges"`
		Versions         []string       `json:"versions"`
		Severity         []osvSeverity  `json:"severity"`
		DatabaseSpecific map[string]any `json:"database_specific"`
		// EcosystemSpecific.Binaries lists, for SUSE and openSUSE records
		// (which name the source rpm), the binary packages it builds.
		EcosystemSpecific struct {
			Binaries []json.RawMessage `json:"binaries"`
		} `json:"ecosystem_specific"`
	} `json:"affected"`
	DatabaseSpecific map[string]any `json:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

var cveRe = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// AddOSV adds one OSV record (JSON, or YAML when yamlDoc is set).
func (b *Builder) AddOSV(data []byte, yamlDoc bool) error {
	if yamlDoc {
		j, err := yamlToJSON(data)
		if err != nil {
			return err
		}
		data = j
	}
	var r osvRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	if r.ID == "" {
		return fmt.Errorf("record without id")
	}
	if r.Withdrawn != "" {
		return nil
	}
	aliases := append([]string(nil), r.Aliases...)
	var related []string
	for _, rel := range r.Related {
		if cveRe.MatchString(rel) {
			related = append(related, rel)
		}
	}
	// Ubuntu's USNs name their CVEs only in cves_map; they are what the USN fixes.
	related = append(related, cvesMapIDs(r.DatabaseSpecific)...)
	summary := r.Summary
	if summary == "" {
		summary = firstLine(r.Details)
	}
	recordSev := severityOf(r.Severity, r.DatabaseSpecific, r.Summary)
	for _, a := range r.Affected {
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			continue
		}
		e := Entry{ID: r.ID, Summary: summary, Severity: recordSev, Versions: a.Versions}
		for _, al := range aliases {
			if al != r.ID && !slices.Contains(e.Aliases, al) {
				e.Aliases = append(e.Aliases, al)
			}
		}
		for _, rel := range append(related, cvesMapIDs(a.DatabaseSpecific)...) {
			if rel != r.ID && !slices.Contains(e.Aliases, rel) && !slices.Contains(e.Related, rel) {
				e.Related = append(e.Related, rel)
			}
		}
		if s := severityOf(a.Severity, a.DatabaseSpecific, ""); s != scan.Unknown {
			e.Severity = s
		}
		for _, rg := range a.Ranges {
			if rg.Type == "ECOSYSTEM" || rg.Type == "SEMVER" {
				e.Ranges = append(e.Ranges, Range{Type: rg.Type, Events: rg.Events})
			}
		}
		if len(e.Ranges) == 0 && len(e.Versions) == 0 {
			continue // GIT-only ranges cannot be matched against package versions
		}
		b.add(a.Package.Ecosystem, a.Package.Name, e)
		// SUSE's records name the source rpm; packages are matched by binary
		// name (as SUSE's CSAF names them), so each binary gets the entry.
		for _, bin := range binaryNames(a.EcosystemSpecific.Binaries) {
			if bin != a.Package.Name {
				b.add(a.Package.Ecosystem, bin, e)
			}
		}
	}
	return nil
}

// binaryNames reads ecosystem_specific.binaries: a list of names, or of
// objects naming binaries with their versions ({"name": version} or
// {"binary_name": …}); the shape differs between exports.
func binaryNames(raw []json.RawMessage) []string {
	var out []string
	for _, r := range raw {
		var name string
		if json.Unmarshal(r, &name) == nil {
			out = append(out, name)
			continue
		}
		var obj map[string]any
		if json.Unmarshal(r, &obj) != nil {
			continue
		}
		if n, ok := obj["binary_name"].(string); ok {
			out = append(out, n)
			continue
		}
		for k := range obj {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// severityOf picks, in order: a scored CVSS vector (v4.0, v3.x, v2; the
// highest score when there are several), a vendor severity
// word in database_specific (GHSA, Ubuntu's cves_map), a "Moderate:" style
// summary prefix (Red Hat family); else UNKNOWN.
func severityOf(sevs []osvSeverity, dbs map[string]any, summary string) scan.Severity {
	best := -1.0
	for _, s := range sevs {
		if _, sc, ok := CVSSScore(s.Score); ok && sc > best {
			best = sc
		}
	}
	if best >= 0 {
		return SeverityOfScore(best)
	}
	if w, ok := dbs["severity"].(string); ok {
		if s := SeverityOfWord(w); s != scan.Unknown {
			return s
		}
	}
	if cm, ok := dbs["cves_map"].(map[string]any); ok {
		top := scan.Unknown
		cves, _ := cm["cves"].([]any)
		for _, c := range cves {
			cm, _ := c.(map[string]any)
			list, _ := cm["severity"].([]any)
			var ss []osvSeverity
			for _, x := range list {
				xm, _ := x.(map[string]any)
				t, _ := xm["type"].(string)
				sc, _ := xm["score"].(string)
				ss = append(ss, osvSeverity{t, sc})
			}
			s := severityOf(ss, nil, "")
			if s == scan.Unknown {
				for _, x := range ss {
					if x.Type == "Ubuntu" {
						s = SeverityOfWord(x.Score)
					}
				}
			}
			if s.Rank() > top.Rank() {
				top = s
			}
		}
		if top != scan.Unknown {
			return top
		}
	}
	if w, _, ok := strings.Cut(summary, ":"); ok && !strings.Contains(w, " ") {
		return SeverityOfWord(w)
	}
	return scan.Unknown
}

func cvesMapIDs(dbs map[string]any) []string {
	cm, ok := dbs["cves_map"].(map[string]any)
	if !ok {
		return nil
	}
	var ids []string
	cves, _ := cm["cves"].([]any)
	for _, c := range cves {
		if m, ok := c.(map[string]any); ok {
			if id, ok := m["id"].(string); ok && id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// yamlToJSON converts a YAML document to JSON keeping every scalar a string,
// so that versions such as 1.10 are never read as numbers.
func yamlToJSON(data []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	v, err := nodeValue(&n, 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func nodeValue(n *yaml.Node, depth int) (any, error) {
	if depth > 64 {
		return nil, fmt.Errorf("YAML nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeValue(n.Content[0], depth+1)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := nodeValue(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.AliasNode:
		return nil, fmt.Errorf("YAML aliases are not accepted")
	}
	if n.Tag == "!!null" {
		return nil, nil
	}
	return n.Value, nil
}

// secdb is Alpine's feed: origin package names with fixed versions.
type secdb struct {
	DistroVersion string `json:"distroversion"`
	Packages      []struct {
		Pkg struct {
			Name     string              `json:"name"`
			Secfixes map[string][]string `json:"secfixes"`
		} `json:"pkg"`
	} `json:"packages"`
}

var idTokenRe = regexp.MustCompile(`(CVE-\d{4}-\d{4,}|[A-Z]+-\d{4}-\d+|XSA-\d+|ZBX-\d+|GHSA(-[0-9a-z]{4}){3})`)

// AddSecDB adds one Alpine secdb document (YAML or JSON); it returns the
// number of (package, advisory) entries added.
func (b *Builder) AddSecDB(data []byte) (int, error) {
	j, err := yamlToJSON(data)
	if err != nil {
		return 0, err
	}
	var db secdb
	if err := json.Unmarshal(j, &db); err != nil {
		return 0, err
	}
	if !strings.HasPrefix(db.DistroVersion, "v") {
		return 0, fmt.Errorf("secdb without distroversion")
	}
	eco := "Alpine:" + db.DistroVersion
	n := 0
	for _, p := range db.Packages {
		fixes := make([]string, 0, len(p.Pkg.Secfixes))
		for v := range p.Pkg.Secfixes {
			fixes = append(fixes, v)
		}
		sort.Strings(fixes)
		for _, fixed := range fixes {
			if strings.TrimSpace(fixed) == "0" {
				continue // "0" lists CVEs that never affected the package
			}
			for _, raw := range p.Pkg.Secfixes[fixed] {
				for _, id := range idTokenRe.FindAllString(raw, -1) {
					b.add(eco, p.Pkg.Name, Entry{
						ID: id, Severity: scan.Unknown,
						Ranges: []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: strings.TrimSpace(fixed)}}}},
					})
					n++
				}
			}
		}
	}
	return n, nil
}

// AddDir ingests a mirror folder: every all.zip (osv.dev export layout, JSON
// or YAML members) and every Alpine secdb document under a folder whose path
// names secdb. Files it does not understand are listed as skipped sources.
func (b *Builder) AddDir(dir string, progress io.Writer) error {
	err := b.walk(dir, progress)
	if b.csafFiles > 0 {
		b.sources = append(b.sources, Source{Name: fmt.Sprintf("CSAF 2.0 (%d documents)", b.csafFiles), Records: b.csafEntries})
		if progress != nil {
			fmt.Fprintf(progress, "advisories: CSAF: %d advisories from %d documents\n", b.csafEntries, b.csafFiles)
		}
	}
	if b.nvdFiles > 0 {
		b.sources = append(b.sources, Source{Name: fmt.Sprintf("NVD CVE API 2.0 (%d files)", b.nvdFiles), Records: b.nvdCVEs})
		if progress != nil {
			fmt.Fprintf(progress, "advisories: NVD: %d CVEs rated from %d files\n", b.nvdCVEs, b.nvdFiles)
		}
	}
	return err
}

func (b *Builder) walk(dir string, progress io.Writer) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Name() == "all.zip":
			n, err := b.addZip(p)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			b.sources = append(b.sources, Source{Name: rel, Records: n})
			if progress != nil {
				fmt.Fprintf(progress, "advisories: %s: %d records\n", rel, n)
			}
		case strings.Contains(rel, "secdb") && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".json")):
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n, err := b.AddSecDB(data)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			b.hash = append(b.hash, sha(data)...)
			b.sources = append(b.sources, Source{Name: rel, Records: n})
		case strings.Contains("/"+rel, "/csaf/") && strings.HasSuffix(p, ".json"):
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n, err := b.AddCSAF(data)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			b.hash = append(b.hash, sha(data)...)
			b.csafFiles++
			b.csafEntries += n
		case isNVD(rel, d.Name()):
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n, err := b.AddNVD(data)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			b.hash = append(b.hash, sha(data)...)
			b.nvdFiles++
			b.nvdCVEs += n
		case strings.HasSuffix(p, ".xml") && OVALEcosystem(d.Name()) != "":
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n, err := b.AddOVAL(data, OVALEcosystem(d.Name()))
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			b.hash = append(b.hash, sha(data)...)
			b.sources = append(b.sources, Source{Name: rel, Records: n})
			if progress != nil {
				fmt.Fprintf(progress, "advisories: %s: %d definitions\n", rel, n)
			}
		case strings.HasSuffix(p, ".zip") || strings.HasSuffix(p, ".gz"):
			b.sources = append(b.sources, Source{Name: rel, Note: "skipped: not an osv.dev export or secdb document"})
		}
		return nil
	})
}

// isNVD recognises NVD CVE API 2.0 files: the feeds
// (nvdcve-2.0-*.json[.gz]) and per-CVE files under a folder named nvd.
func isNVD(rel, name string) bool {
	if strings.HasPrefix(name, "nvdcve-2.0-") && (strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".json.gz")) {
		return true
	}
	return strings.HasPrefix(name, "CVE-") && strings.HasSuffix(name, ".json") && strings.Contains("/"+rel, "/nvd/")
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// maxRecordBytes bounds one zip member: real OSV records stay far below.
const maxRecordBytes = 64 << 20

func (b *Builder) addZip(p string) (int, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	n := 0
	h := sha256.New()
	for _, f := range zr.File {
		isYAML := strings.HasSuffix(f.Name, ".yaml") || strings.HasSuffix(f.Name, ".yml")
		if !isYAML && !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return n, fmt.Errorf("%s: %w", f.Name, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxRecordBytes+1))
		rc.Close()
		if err != nil {
			return n, fmt.Errorf("%s: %w", f.Name, err)
		}
		if len(data) > maxRecordBytes {
			return n, fmt.Errorf("%s: record larger than %d bytes", f.Name, maxRecordBytes)
		}
		h.Write(data)
		if err := b.AddOSV(data, isYAML); err != nil {
			return n, fmt.Errorf("%s: %w", f.Name, err)
		}
		n++
	}
	b.hash = append(b.hash, h.Sum(nil)...)
	return n, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
