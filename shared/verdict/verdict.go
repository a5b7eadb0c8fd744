// Package verdict decides whether an image may be delivered: a policy
// (which findings deny, whether whitelisted findings may pass, what to do
// with a report that could not check everything) evaluated over a report.
// The delivery chain asks it three ways: GET /v1/images/{digest}/verdict,
// `layerscan scan --policy`, and the Kubernetes admission webhook.
package verdict

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
)

// Policy is one named policy of the settings.
type Policy struct {
	Name string `json:"name"`
	// DenyVulnerabilities are the severities of system and application
	// vulnerabilities that deny; OnlyFixable limits them to those with a
	// fixed version.
	DenyVulnerabilities []scan.Severity `json:"denyVulnerabilities"`
	OnlyFixable         bool            `json:"onlyFixable"`
	// DenyCategories deny on any finding of these categories
	// (malicious-sample, sensitive-file, baseline, build-instruction), at
	// DenyMinSeverity or above when it is set.
	DenyCategories  []scan.Category `json:"denyCategories"`
	DenyMinSeverity scan.Severity   `json:"denyMinSeverity,omitempty"`
	// AllowWhitelisted lets whitelisted findings pass (the default).
	AllowWhitelisted bool `json:"allowWhitelisted"`
	// NotChecked is "deny" (the default) or "allow": what an incomplete
	// report, or one whose vulnerabilities could not be checked, gets.
	NotChecked string `json:"notChecked"`
}

// Default is the seed's security policy: deny fixable CRITICAL and HIGH
// system vulnerabilities, any malicious sample and any sensitive file;
// whitelisted findings pass; a report that could not check is denied.
func Default() Policy {
	return Policy{
		Name: "default", DenyVulnerabilities: []scan.Severity{scan.Critical, scan.High}, OnlyFixable: true,
		DenyCategories: []scan.Category{scan.MaliciousSample, scan.SensitiveFile}, AllowWhitelisted: true, NotChecked: "deny",
	}
}

// UnmarshalJSON reads a policy strictly (unknown fields are an error)
// over its base: fields left out allow whitelisted findings and deny what
// was not checked.
func (p *Policy) UnmarshalJSON(b []byte) error {
	type plain Policy
	q := plain{AllowWhitelisted: true, NotChecked: "deny"}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return err
	}
	*p = Policy(q)
	return nil
}

// Parse reads and validates a policy document.
func Parse(b []byte) (Policy, error) {
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("policy: %w", err)
	}
	return p, p.Validate()
}

// Validate checks a policy.
func (p Policy) Validate() error {
	if p.Name == "" || len(p.Name) > 64 || strings.ContainsAny(p.Name, "/ ") {
		return fmt.Errorf("name: %q is not a policy name", p.Name)
	}
	for i, s := range p.DenyVulnerabilities {
		if _, err := scan.ParseSeverity(string(s)); err != nil {
			return fmt.Errorf("denyVulnerabilities[%d]: %v", i, err)
		}
	}
	for i, c := range p.DenyCategories {
		if !slices.Contains(scan.Categories, c) || c == scan.SystemVulnerability || c == scan.ApplicationVulnerability {
			return fmt.Errorf("denyCategories[%d]: %q is not malicious-sample, sensitive-file, baseline or build-instruction", i, c)
		}
	}
	if p.DenyMinSeverity != "" {
		if _, err := scan.ParseSeverity(string(p.DenyMinSeverity)); err != nil {
			return fmt.Errorf("denyMinSeverity: %v", err)
		}
	}
	if p.NotChecked != "deny" && p.NotChecked != "allow" {
		return fmt.Errorf("notChecked: %q is not deny or allow", p.NotChecked)
	}
	return nil
}

// Decisions.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Verdict is what a policy decided about a report.
type Verdict struct {
	Decision string   `json:"decision"`
	Policy   string   `json:"policy"`
	Reasons  []string `json:"reasons"`
	// Image and Report say what it was computed from.
	Image     string `json:"image"`
	Digest    string `json:"digest"`
	DBVersion string `json:"advisoryDB"`
	Stale     bool   `json:"stale,omitempty"`
}

// maxReasons bounds the reasons listed; the count of the rest is given.
const maxReasons = 20

// Evaluate decides.
func Evaluate(p Policy, r *report.Report) Verdict {
	v := Verdict{Decision: Allow, Policy: p.Name, Reasons: []string{}, Image: r.Image.Ref, Digest: r.Image.Digest, DBVersion: r.AdvisoryDB.Version, Stale: r.Stale}
	denied := 0
	deny := func(format string, args ...any) {
		denied++
		if denied <= maxReasons {
			v.Reasons = append(v.Reasons, fmt.Sprintf(format, args...))
		}
	}
	if p.NotChecked != "allow" {
		if !r.Complete {
			deny("the scan is incomplete: %s", strings.Join(r.Errors, "; "))
		}
		if why := r.Unchecked(); why != "" {
			deny("%s", why)
		}
	}
	min := scan.Severity("")
	if p.DenyMinSeverity != "" {
		min, _ = scan.ParseSeverity(string(p.DenyMinSeverity))
	}
	for _, f := range r.Findings {
		if f.Whitelisted && p.AllowWhitelisted {
			continue
		}
		what := f.ID
		if f.Package != nil {
			what += " in " + f.Package.Name + " " + f.Package.Version
		} else if f.Path != "" {
			what += " at " + f.Path
		}
		switch f.Category {
		case scan.SystemVulnerability, scan.ApplicationVulnerability:
			if slices.Contains(p.DenyVulnerabilities, f.Severity) && (!p.OnlyFixable || f.FixedVersion != "") {
				deny("%s %s %s", f.Severity, f.Category, what)
			}
		default:
			if slices.Contains(p.DenyCategories, f.Category) && (min == "" || f.Severity.Rank() >= min.Rank()) {
				deny("%s %s %s", f.Severity, f.Category, what)
			}
		}
	}
	if denied > maxReasons {
		v.Reasons = append(v.Reasons, fmt.Sprintf("and %d more", denied-maxReasons))
	}
	if denied > 0 {
		v.Decision = Deny
	}
	return v
}

// Find returns the named policy: one of the settings', or the default.
func Find(policies []Policy, name string) (Policy, bool) {
	if name == "" {
		name = "default"
	}
	for _, p := range policies {
		if p.Name == name {
			return p, true
		}
	}
	if name == "default" {
		return Default(), true
	}
	return Policy{}, false
}
