// Package match compares packages with advisory entries using each
// ecosystem's own version ordering (osv-scalibr's semantic package), merges
// aliases, and produces vulnerability findings with fix commands.
package match

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/osv-scalibr/semantic"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/scan"
)

// Result is the outcome of matching one image.
type Result struct {
	Findings []scan.Finding
	Coverage []scan.Coverage
	// Errors are versions or ranges that could not be compared.
	Errors []string
}

// OSEcosystem names the OSV ecosystem of an OS release, e.g. Debian:12,
// Alpine:v3.9, Ubuntu:24.04, AlmaLinux:9. It returns "" for an unknown OS.
func OSEcosystem(os *scan.OS) string {
	if os == nil {
		return ""
	}
	v := os.Version
	major, _, _ := strings.Cut(v, ".")
	majorMinor := v
	if parts := strings.Split(v, "."); len(parts) > 2 {
		majorMinor = parts[0] + "." + parts[1]
	}
	switch os.Family {
	case "debian":
		return "Debian:" + major
	case "ubuntu":
		return "Ubuntu:" + majorMinor
	case "alpine":
		return "Alpine:v" + majorMinor
	case "almalinux":
		return "AlmaLinux:" + major
	case "rocky":
		return "Rocky Linux:" + major
	case "ol":
		return "Oracle Linux:" + major
	case "rhel", "centos":
		// CentOS rebuilds Red Hat's sources: Red Hat's data for its release.
		return "Red Hat:enterprise_linux:" + major
	case "mariner":
		return "Mariner:" + majorMinor
	case "azurelinux":
		return "Azure Linux:" + majorMinor
	case "sles":
		return "SUSE:Linux Enterprise Server " + strings.Replace(v, ".", " SP", 1)
	case "opensuse-leap":
		return "openSUSE:Leap " + v
	case "wolfi":
		return "Wolfi"
	case "chainguard":
		return "Chainguard"
	}
	return os.Family + ":" + v
}

// versionEcosystem is the ecosystem whose ordering compares a version.
func versionEcosystem(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	switch base {
	case "Mariner", "Azure Linux", "Red Hat", "openSUSE", "SUSE", "Oracle Linux":
		return "Red Hat"
	}
	return base
}

// appEcosystems maps purl types of language packages to OSV ecosystems.
var appEcosystems = map[string]string{
	"golang": "Go", "npm": "npm", "pypi": "PyPI", "maven": "Maven", "gem": "RubyGems",
	"composer": "Packagist", "cargo": "crates.io", "nuget": "NuGet",
}

// Match finds the vulnerabilities of pkgs. os may be nil.
func Match(ctx context.Context, db *advisory.DB, os *scan.OS, pkgs []scan.Package) (*Result, error) {
	res := &Result{}
	osEco := OSEcosystem(os)
	groups := map[string][]scan.Package{}
	var ecos []string
	for _, p := range pkgs {
		eco := appEcosystems[p.Type]
		if p.IsOS() {
			eco = osEco
			if eco == "" {
				eco = "?" + p.Type
			}
		}
		if eco == "" {
			continue
		}
		if _, ok := groups[eco]; !ok {
			ecos = append(ecos, eco)
		}
		groups[eco] = append(groups[eco], p)
	}
	sort.Strings(ecos)
	for _, eco := range ecos {
		ps := groups[eco]
		cov := scan.Coverage{Ecosystem: eco, Packages: len(ps)}
		switch {
		case strings.HasPrefix(eco, "?"):
			cov.Ecosystem = ps[0].Type
			cov.Note = fmt.Sprintf("the image's OS could not be detected: %d %s packages were not checked for vulnerabilities", len(ps), ps[0].Type)
		case db == nil:
			cov.Note = "no advisory DB loaded: packages were not checked"
		case !db.Has(eco):
			cov.Note = fmt.Sprintf("no advisory data covers %s: %d packages were not checked for vulnerabilities", eco, len(ps))
			if os != nil && ps[0].IsOS() {
				cov.Note = fmt.Sprintf("no advisory data covers %s %s (%s): its %d %s packages were not checked for vulnerabilities", os.Family, os.Version, eco, len(ps), ps[0].Type)
			}
		default:
			cov.Covered = true
			ix, err := db.Index(ctx, eco)
			if err != nil {
				return nil, err
			}
			nvd, err := db.NVD(ctx)
			if err != nil {
				return nil, err
			}
			for _, p := range ps {
				fs, errs := matchPackage(ix, eco, os, p)
				for i := range fs {
					rateFinding(&fs[i], eco, p, nvd)
				}
				res.Findings = append(res.Findings, fs...)
				res.Errors = append(res.Errors, errs...)
			}
		}
		res.Coverage = append(res.Coverage, cov)
	}
	return res, nil
}

// lookupName is the advisory key of a package: Debian and Ubuntu advisories
// name source packages, Alpine's the origin, Mariner's and Azure Linux's
// OVAL, Red Hat's VEX and Rocky's OSV the source rpm, other rpm distros
// the binary;
// language ecosystems fold names their own way (advisory.PackageKey).
func lookupName(eco string, p scan.Package) (name, version string) {
	switch p.Type {
	case "golang":
		// Modules say v1.2.3; the Go vulnerability database says 1.2.3.
		return p.Name, strings.TrimPrefix(p.Version, "v")
	case "deb":
		if p.SourceName != "" {
			v := p.SourceVersion
			if v == "" {
				v = p.Version
			}
			return p.SourceName, v
		}
	case "apk":
		if p.SourceName != "" {
			return p.SourceName, p.Version
		}
	case "rpm":
		// Microsoft's OVAL names source packages: curl covers curl-libs.
		if base, _, _ := strings.Cut(eco, ":"); (base == "Mariner" || base == "Azure Linux" || base == "Red Hat" || base == "Rocky Linux") && p.SourceName != "" {
			return p.SourceName, p.Version
		}
	}
	return advisory.PackageKey(eco, p.Name), p.Version
}

type hit struct {
	ids     map[string]bool
	finding scan.Finding
}

func matchPackage(ix *advisory.Index, eco string, os *scan.OS, p scan.Package) ([]scan.Finding, []string) {
	name, version := lookupName(eco, p)
	entries, err := ix.Entries(name)
	if err != nil {
		return nil, []string{err.Error()}
	}
	// Red Hat's VEX names source packages and its OVAL binaries: both.
	if base, _, _ := strings.Cut(eco, ":"); base == "Red Hat" && name != p.Name {
		more, err := ix.Entries(p.Name)
		if err != nil {
			return nil, []string{err.Error()}
		}
		entries = append(slices.Clip(entries), more...)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	vEco := versionEcosystem(eco)
	installed, err := semantic.Parse(version, vEco)
	if err != nil {
		return nil, []string{fmt.Sprintf("%s %s: cannot parse version %q: %v", p.Type, p.Name, version, err)}
	}
	var hits []*hit
	var errs []string
	for _, e := range entries {
		aff, fixed, err := Affected(installed, vEco, e)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s on %s %s: %v", e.ID, p.Name, version, err))
		}
		if !aff {
			continue
		}
		ids := append([]string{e.ID}, e.Aliases...)
		var h *hit
		for _, cand := range hits {
			for _, id := range ids {
				if cand.ids[id] {
					h = cand
				}
			}
		}
		if h == nil {
			h = &hit{ids: map[string]bool{}}
			h.finding = newFinding(p, e)
			hits = append(hits, h)
		}
		for _, id := range ids {
			if !h.ids[id] {
				h.ids[id] = true
				if id != h.finding.ID {
					h.finding.Aliases = append(h.finding.Aliases, id)
				}
			}
		}
		for _, id := range e.Related {
			if !h.ids[id] && !slices.Contains(h.finding.Aliases, id) {
				h.finding.Aliases = append(h.finding.Aliases, id)
			}
		}
		if e.Severity.Rank() > h.finding.Severity.Rank() {
			h.finding.Severity = e.Severity
		}
		if fixed != "" && (h.finding.FixedVersion == "" || less(vEco, fixed, h.finding.FixedVersion)) {
			h.finding.FixedVersion = fixed
		}
		if e.FixNote != "" && h.finding.FixNote == "" {
			h.finding.FixNote = e.FixNote
		}
	}
	out := make([]scan.Finding, 0, len(hits))
	for _, h := range hits {
		f := h.finding
		sort.Strings(f.Aliases)
		switch {
		case f.Category == scan.MaliciousSample:
			// A malicious release has no "fixed version": the package itself is the attack.
			f.Status, f.FixedVersion, f.Fixable = "", "", FixNone
			f.Remediation = fmt.Sprintf("Remove %s from the image and from the project's dependencies now, rebuild from a clean base, and treat any secrets the build or the container could reach as exposed: rotate them.", p.Name)
		case f.FixedVersion != "":
			f.Status = "fixed"
			f.Remediation = Remediation(os, p, f.FixedVersion)
			f.Fixable = Fixable(os, p)
		case f.FixNote != "":
			f.Status, f.Fixable = "unfixed", FixNone
			f.Remediation = "No fix: " + f.FixNote + ". Remove the package if unused, or mitigate."
		default:
			f.Status, f.Fixable = "unfixed", FixNone
			f.Remediation = "No fixed version is published yet; remove the package if unused, or mitigate and watch for a fix."
		}
		out = append(out, f)
	}
	return out, errs
}

// rateFinding says whose severity a finding carries and adds NVD's CVSS
// scores. The advisory's own rating comes first: the distribution's for
// OS packages, GHSA's (or the OSV record's) for language packages; NVD's
// (primary, then a CNA's) only when the advisory has none.
func rateFinding(f *scan.Finding, eco string, p scan.Package, nvd map[string]advisory.Rating) {
	if f.Category == scan.MaliciousSample {
		f.SeveritySource = "OSV malicious-packages"
		return
	}
	switch {
	case f.Severity == scan.Unknown:
	case p.IsOS():
		f.SeveritySource, _, _ = strings.Cut(eco, ":")
	case strings.HasPrefix(f.ID, "GHSA-") || slices.ContainsFunc(f.Aliases, func(a string) bool { return strings.HasPrefix(a, "GHSA-") }):
		f.SeveritySource = "GHSA"
	default:
		f.SeveritySource = "OSV"
	}
	for _, id := range append([]string{f.ID}, f.Aliases...) {
		r, ok := nvd[id]
		if !ok {
			continue
		}
		f.CVSS = r.CVSS
		if f.Severity == scan.Unknown && r.Severity != scan.Unknown && r.Severity != "" {
			f.Severity = r.Severity
			f.SeveritySource = "NVD"
			if r.Source != "" && r.Source != "nvd@nist.gov" {
				f.SeveritySource = "NVD (CNA " + r.Source + ")"
			}
		}
		return
	}
}

func newFinding(p scan.Package, e advisory.Entry) scan.Finding {
	id := e.ID
	// Debian and Ubuntu per-CVE records wrap one CVE: show the CVE.
	if strings.HasPrefix(id, "DEBIAN-CVE-") || strings.HasPrefix(id, "UBUNTU-CVE-") {
		id = strings.TrimPrefix(strings.TrimPrefix(id, "DEBIAN-"), "UBUNTU-")
	}
	cat := scan.SystemVulnerability
	if !p.IsOS() {
		cat = scan.ApplicationVulnerability
		if strings.HasPrefix(e.ID, "MAL-") {
			cat = scan.MaliciousSample
		}
	}
	f := scan.Finding{
		Category: cat, ID: id, Severity: e.Severity, Title: e.Summary,
		Package: &scan.PackageRef{Name: p.Name, Version: p.Version, Type: p.Type},
		Path:    p.Path, LayerDiffID: p.LayerDiffID,
	}
	if f.Severity == "" {
		f.Severity = scan.Unknown
	}
	if strings.HasPrefix(e.ID, "MAL-") {
		f.Severity = scan.Critical
	}
	if f.Title == "" {
		f.Title = id
	}
	return f
}

func less(eco, a, b string) bool {
	va, err := semantic.Parse(a, eco)
	if err != nil {
		return false
	}
	c, err := va.CompareStr(b)
	return err == nil && c < 0
}

// Affected evaluates one entry against an installed version and returns the
// smallest fixed version above it, if any.
func Affected(installed semantic.Version, eco string, e advisory.Entry) (bool, string, error) {
	for _, v := range e.Versions {
		if c, err := installed.CompareStr(v); err == nil && c == 0 {
			return true, smallestFixAbove(installed, eco, e), nil
		}
	}
	var firstErr error
	for _, r := range e.Ranges {
		aff, err := inRange(installed, eco, r)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if aff {
			return true, smallestFixAbove(installed, eco, e), nil
		}
	}
	return false, "", firstErr
}

type sortedEvent struct {
	advisory.Event
	v    semantic.Version
	zero bool
}

// inRange applies the OSV evaluation: sort the events by version, then the
// last introduced/fixed/last_affected at or below the version decides.
func inRange(installed semantic.Version, eco string, r advisory.Range) (bool, error) {
	evs := make([]sortedEvent, 0, len(r.Events))
	for _, ev := range r.Events {
		s := ev.Introduced + ev.Fixed + ev.LastAffected + ev.Limit
		if ev.Introduced == "0" {
			evs = append(evs, sortedEvent{Event: ev, zero: true})
			continue
		}
		v, err := semantic.Parse(s, eco)
		if err != nil {
			return false, fmt.Errorf("range event %q: %w", s, err)
		}
		evs = append(evs, sortedEvent{Event: ev, v: v})
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].zero || evs[j].zero {
			return evs[i].zero && !evs[j].zero
		}
		c, _ := evs[i].v.Compare(evs[j].v)
		return c < 0
	})
	affected := false
	for _, ev := range evs {
		cmp := 1 // installed vs event version
		if !ev.zero {
			c, err := installed.Compare(ev.v)
			if err != nil {
				return false, err
			}
			cmp = c
		}
		switch {
		case ev.Introduced != "":
			if cmp >= 0 {
				affected = true
			}
		case ev.Fixed != "":
			if cmp >= 0 {
				affected = false
			}
		case ev.LastAffected != "":
			if cmp > 0 {
				affected = false
			}
		case ev.Limit != "":
			if cmp >= 0 {
				affected = false
			}
		}
	}
	return affected, nil
}

func smallestFixAbove(installed semantic.Version, eco string, e advisory.Entry) string {
	best := ""
	var bestV semantic.Version
	for _, r := range e.Ranges {
		for _, ev := range r.Events {
			if ev.Fixed == "" {
				continue
			}
			if c, err := installed.CompareStr(ev.Fixed); err != nil || c >= 0 {
				continue
			}
			if bestV != nil {
				if c, err := bestV.CompareStr(ev.Fixed); err != nil || c <= 0 {
					continue
				}
			}
			v, err := semantic.Parse(ev.Fixed, eco)
			if err != nil {
				continue
			}
			best, bestV = ev.Fixed, v
		}
	}
	return best
}
