// Package report is the report model (schema layerscan.report/v1) and its
// renderers. docs/report.md documents the schema.
package report

import (
	"encoding/json"
	"io"
	"sort"
	"strings"

	"github.com/layerscan/layerscan/shared/scan"
)

// Schema is the report schema identifier.
const Schema = "layerscan.report/v1"

// Report is the result of scanning one image.
type Report struct {
	Schema     string          `json:"schema"`
	Image      Image           `json:"image"`
	Layers     []Layer         `json:"layers"`
	Packages   []scan.Package  `json:"packages"`
	Findings   []scan.Finding  `json:"findings"`
	Summary    Summary         `json:"summary"`
	AdvisoryDB AdvisoryDB      `json:"advisoryDB"`
	Coverage   []scan.Coverage `json:"coverage"`
	Complete   bool            `json:"complete"`
	// Filtered says what a severity filter (--severity) left out.
	Filtered  *Filtered `json:"filtered,omitempty"`
	Errors    []string  `json:"errors"`
	Warnings  []string  `json:"warnings,omitempty"`
	Scanner   Scanner   `json:"scanner"`
	CreatedAt string    `json:"createdAt"`
	// Stale marks a report served while the one against the current
	// advisory DB is not built yet (a re-match is under way).
	Stale bool `json:"stale,omitempty"`
}

// Image identifies the scanned image.
type Image struct {
	Ref      string   `json:"ref"`
	Digest   string   `json:"digest"`
	Platform string   `json:"platform"`
	OS       *scan.OS `json:"os"`
}

// Layer is one layer, bottom first; index counts non-empty layers from 0.
type Layer struct {
	Index     int    `json:"index"`
	Digest    string `json:"digest"`
	DiffID    string `json:"diffID"`
	CreatedBy string `json:"createdBy,omitempty"`
	// Status is analyzed, cached (facts reused) or failed.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// AdvisoryDB names the advisory DB version used for matching.
type AdvisoryDB struct {
	Version string   `json:"version"`
	Sources []string `json:"sources"`
}

// Scanner identifies the analyzer set that produced the layer facts.
type Scanner struct {
	Version     string `json:"version"`
	AnalyzerSet string `json:"analyzerSet"`
	// Logic versions how reports are built from facts (squash, matching,
	// report rules); a stored report is reused only under the same one.
	Logic int `json:"logic"`
	// Policy identifies the whitelist rules applied ("" for none).
	Policy string `json:"policy,omitempty"`
}

// Summary counts non-whitelisted findings per category and severity.
type Summary map[scan.Category]map[scan.Severity]int

// Summarize counts findings; every category and severity is present.
func Summarize(fs []scan.Finding) Summary {
	s := Summary{}
	for _, c := range scan.Categories {
		s[c] = map[scan.Severity]int{}
		for _, v := range scan.Severities {
			s[c][v] = 0
		}
	}
	for _, f := range fs {
		if f.Whitelisted {
			continue
		}
		if _, ok := s[f.Category]; !ok {
			continue
		}
		s[f.Category][f.Severity]++
	}
	return s
}

// SortFindings orders by category, severity (highest first), id, package, path.
func SortFindings(fs []scan.Finding) {
	catRank := map[scan.Category]int{}
	for i, c := range scan.Categories {
		catRank[c] = i
	}
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Category != b.Category {
			return catRank[a.Category] < catRank[b.Category]
		}
		if a.Severity != b.Severity {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if pa, pb := pkgName(a), pkgName(b); pa != pb {
			return pa < pb
		}
		return a.Path < b.Path
	})
}

func pkgName(f scan.Finding) string {
	if f.Package == nil {
		return ""
	}
	return f.Package.Name
}

// Filtered counts what a severity filter hid: UNKNOWN findings are not
// rated, which is not the same as low, so they are counted apart.
type Filtered struct {
	Severity      string `json:"severity"`
	Hidden        int    `json:"hidden"`
	HiddenUnknown int    `json:"hiddenUnknown"`
}

// Unchecked says why vulnerabilities were not (all) checked: no advisory
// DB, or no advisory data for the image's release; "" when they were.
func (r *Report) Unchecked() string {
	if r.AdvisoryDB.Version == "" {
		return "no advisory DB: vulnerabilities were not checked"
	}
	for _, c := range r.Coverage {
		if !c.Covered {
			return "not checked: " + c.Note
		}
	}
	return ""
}

// Filter keeps the findings a severity selector admits: a single severity
// is a threshold ("HIGH" means HIGH and CRITICAL); a comma list is a set.
type Filter struct {
	set  map[scan.Severity]bool
	min  scan.Severity
	spec string
}

// ParseFilter reads --severity; "" admits everything.
func ParseFilter(s string) (*Filter, error) {
	f := &Filter{spec: strings.ToUpper(strings.TrimSpace(s))}
	if f.spec == "" {
		return f, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) == 1 {
		v, err := scan.ParseSeverity(parts[0])
		if err != nil {
			return nil, err
		}
		f.min = v
		return f, nil
	}
	f.set = map[scan.Severity]bool{}
	for _, p := range parts {
		v, err := scan.ParseSeverity(p)
		if err != nil {
			return nil, err
		}
		f.set[v] = true
	}
	return f, nil
}

// Admits reports whether a severity passes the filter.
func (f *Filter) Admits(s scan.Severity) bool {
	if f.set != nil {
		return f.set[s]
	}
	if f.min == "" {
		return true
	}
	return s.Rank() >= f.min.Rank()
}

// Apply returns a copy of r with only admitted findings, re-summarised.
func (f *Filter) Apply(r *Report) *Report {
	out := *r
	out.Findings = []scan.Finding{}
	hidden := &Filtered{Severity: f.spec}
	for _, x := range r.Findings {
		if f.Admits(x.Severity) {
			out.Findings = append(out.Findings, x)
			continue
		}
		hidden.Hidden++
		if x.Severity == scan.Unknown {
			hidden.HiddenUnknown++
		}
	}
	if f.spec != "" {
		out.Filtered = hidden
	}
	out.Summary = Summarize(out.Findings)
	return &out
}

// Failing counts non-whitelisted findings that pass the filter (for --exit-code).
func (f *Filter) Failing(r *Report) int {
	n := 0
	for _, x := range r.Findings {
		if !x.Whitelisted && f.Admits(x.Severity) {
			n++
		}
	}
	return n
}

// WriteJSON renders the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
