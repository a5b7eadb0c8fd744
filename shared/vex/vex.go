// Package vex reads VEX documents (OpenVEX and CycloneDX VEX) into
// statements and applies them to a report's findings: a not_affected or
// fixed statement about a vulnerability, for a product that is the image
// (by digest or purl) and, when it names subcomponents, for the finding's
// package, suppresses the finding. A suppressed finding stays in the
// report, marked with the statement's status and justification, and leaves
// the counts and the exit code, as a whitelisted one does.
package vex

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Statuses that suppress.
const (
	NotAffected = "not_affected"
	Fixed       = "fixed"
)

// Statement is one VEX statement.
type Statement struct {
	Vulnerability string   `json:"vulnerability"`
	Aliases       []string `json:"aliases,omitempty"`
	// Products are the image's identifiers: a purl (pkg:oci/…@sha256:…),
	// a digest, or a reference.
	Products []string `json:"products"`
	// Subcomponents, when set, are the packages (purls) it is about.
	Subcomponents []string `json:"subcomponents,omitempty"`
	Status        string   `json:"status"`
	Justification string   `json:"justification,omitempty"`
	Impact        string   `json:"impact,omitempty"`
	// Source names the document it came from.
	Source string `json:"source,omitempty"`
}

// maxStatements bounds one document.
const maxStatements = 10000

// Parse reads an OpenVEX or a CycloneDX VEX document.
func Parse(data []byte, source string) ([]Statement, error) {
	var head struct {
		Context   string `json:"@context"`
		BOMFormat string `json:"bomFormat"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("VEX %s: %w", source, err)
	}
	var out []Statement
	var err error
	switch {
	case strings.Contains(head.Context, "openvex"):
		out, err = parseOpenVEX(data, source)
	case head.BOMFormat == "CycloneDX":
		out, err = parseCycloneDX(data, source)
	default:
		return nil, fmt.Errorf("VEX %s: neither OpenVEX (@context) nor CycloneDX (bomFormat)", source)
	}
	if err != nil {
		return nil, fmt.Errorf("VEX %s: %w", source, err)
	}
	if len(out) > maxStatements {
		return nil, fmt.Errorf("VEX %s: %d statements, over %d", source, len(out), maxStatements)
	}
	return out, nil
}

func parseOpenVEX(data []byte, source string) ([]Statement, error) {
	type product struct {
		ID          string            `json:"@id"`
		Identifiers map[string]string `json:"identifiers"`
		Subs        []struct {
			ID          string            `json:"@id"`
			Identifiers map[string]string `json:"identifiers"`
		} `json:"subcomponents"`
	}
	var doc struct {
		Statements []struct {
			Vulnerability struct {
				ID      string   `json:"@id"`
				Name    string   `json:"name"`
				Aliases []string `json:"aliases"`
			} `json:"vulnerability"`
			Products      []product `json:"products"`
			Status        string    `json:"status"`
			Justification string    `json:"justification"`
			Impact        string    `json:"impact_statement"`
		} `json:"statements"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var out []Statement
	for _, s := range doc.Statements {
		st := Statement{Vulnerability: s.Vulnerability.Name, Aliases: s.Vulnerability.Aliases, Status: s.Status, Justification: s.Justification, Impact: s.Impact, Source: source}
		if st.Vulnerability == "" {
			st.Vulnerability = s.Vulnerability.ID
		}
		for _, p := range s.Products {
			st.Products = append(st.Products, p.ID)
			if purl := p.Identifiers["purl"]; purl != "" {
				st.Products = append(st.Products, purl)
			}
			for _, sub := range p.Subs {
				st.Subcomponents = append(st.Subcomponents, sub.ID)
				if purl := sub.Identifiers["purl"]; purl != "" {
					st.Subcomponents = append(st.Subcomponents, purl)
				}
			}
		}
		if st.Vulnerability == "" || st.Status == "" {
			return nil, errors.New("a statement without a vulnerability or status")
		}
		out = append(out, st)
	}
	return out, nil
}

// cycloneDXStatus maps analysis states to VEX statuses.
var cycloneDXStatus = map[string]string{
	"not_affected": NotAffected, "false_positive": NotAffected, "resolved": Fixed, "resolved_with_pedigree": Fixed,
	"exploitable": "affected", "in_triage": "under_investigation",
}

func parseCycloneDX(data []byte, source string) ([]Statement, error) {
	var doc struct {
		Metadata struct {
			Component struct {
				BOMRef string `json:"bom-ref"`
				PURL   string `json:"purl"`
				Name   string `json:"name"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			BOMRef string `json:"bom-ref"`
			PURL   string `json:"purl"`
		} `json:"components"`
		Vulnerabilities []struct {
			ID       string `json:"id"`
			Analysis struct {
				State         string `json:"state"`
				Justification string `json:"justification"`
				Detail        string `json:"detail"`
			} `json:"analysis"`
			Affects []struct {
				Ref string `json:"ref"`
			} `json:"affects"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	purls := map[string]string{}
	for _, c := range doc.Components {
		purls[c.BOMRef] = c.PURL
	}
	image := doc.Metadata.Component
	var out []Statement
	for _, v := range doc.Vulnerabilities {
		st := Statement{Vulnerability: v.ID, Status: cycloneDXStatus[v.Analysis.State], Justification: v.Analysis.Justification, Impact: v.Analysis.Detail, Source: source}
		if st.Vulnerability == "" || st.Status == "" {
			continue
		}
		for _, p := range []string{image.PURL, image.Name} {
			if p != "" {
				st.Products = append(st.Products, p)
			}
		}
		for _, a := range v.Affects {
			switch {
			case a.Ref == image.BOMRef:
			case purls[a.Ref] != "":
				st.Subcomponents = append(st.Subcomponents, purls[a.Ref])
			case strings.HasPrefix(a.Ref, "pkg:"):
				st.Subcomponents = append(st.Subcomponents, a.Ref)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// Target is the image statements are applied to.
type Target struct {
	Digest string
	Ref    string
}

// names reports whether a product identifier names the image: its
// digest, a pkg:oci purl at its digest, or its reference.
func (t Target) names(product string) bool {
	p, _ := url.PathUnescape(product)
	switch {
	case p == "" || t.Digest == "":
		return false
	case p == t.Digest, p == t.Ref:
		return true
	case strings.HasPrefix(p, "pkg:oci/"):
		_, version, _ := strings.Cut(strings.SplitN(p, "?", 2)[0], "@")
		return version == t.Digest
	}
	return strings.HasSuffix(p, "@"+t.Digest)
}

// samePURL compares package URLs without qualifiers and subpaths.
func samePURL(a, b string) bool {
	cut := func(s string) string {
		s, _, _ = strings.Cut(s, "?")
		s, _, _ = strings.Cut(s, "#")
		u, err := url.PathUnescape(s)
		if err != nil {
			return s
		}
		return strings.ToLower(u)
	}
	return a != "" && cut(a) == cut(b)
}

// Apply marks the findings the statements suppress; a later statement
// about the same finding (affected, under investigation) does not undo an
// earlier suppression of another document. The statements that suppress
// on this image are indexed by vulnerability ID and alias once, so a
// report costs one look-up per finding ID, not a pass over every statement.
func Apply(stmts []Statement, t Target, fs []scan.Finding, purlOf func(scan.Finding) string) {
	byID := map[string][]int{}
	for i, s := range stmts {
		if s.Status != NotAffected && s.Status != Fixed || !slices.ContainsFunc(s.Products, t.names) {
			continue
		}
		for _, id := range append([]string{s.Vulnerability}, s.Aliases...) {
			if l := byID[id]; len(l) == 0 || l[len(l)-1] != i {
				byID[id] = append(l, i)
			}
		}
	}
	if len(byID) == 0 {
		return
	}
	for i := range fs {
		f := &fs[i]
		if f.Package == nil {
			continue
		}
		// The first statement in order that is about the finding and, if
		// it names subcomponents, about its package.
		first := -1
		for _, id := range append([]string{f.ID}, f.Aliases...) {
			for _, si := range byID[id] {
				if first >= 0 && si >= first {
					break
				}
				if s := stmts[si]; len(s.Subcomponents) == 0 || slices.ContainsFunc(s.Subcomponents, func(sub string) bool { return samePURL(sub, purlOf(*f)) }) {
					first = si
					break
				}
			}
		}
		if first < 0 {
			continue
		}
		s := stmts[first]
		f.VEXStatus, f.VEXJustification = s.Status, s.Justification
		if f.VEXJustification == "" {
			f.VEXJustification = s.Impact
		}
		f.Whitelisted = true
		f.WhitelistReason = fmt.Sprintf("VEX %s (%s) from %s", s.Status, f.VEXJustification, s.Source)
	}
}

// Fingerprint identifies a set of statements, for report reuse and keys.
func Fingerprint(stmts []Statement) string {
	if len(stmts) == 0 {
		return ""
	}
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(stmts)
	sum := sha256.Sum256(b.Bytes())
	return "vex-" + hex.EncodeToString(sum[:6])
}

// Document is a stored VEX document: its statements, under an ID.
type Document struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Created    string      `json:"created"`
	Statements []Statement `json:"statements"`
}

// Load reads every stored document's statements, in ID order.
func Load(ctx context.Context, st store.Store) ([]Statement, error) {
	keys, err := st.List(ctx, storekey.VEXDocumentsPrefix)
	if err != nil {
		return nil, err
	}
	var out []Statement
	for _, k := range keys {
		var d Document
		if err := store.GetJSON(ctx, st, k, &d); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, d.Statements...)
	}
	return out, nil
}
