package advisory

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
)

// OVAL 5 definitions, as far as vulnerability matching needs them:
// definitions (with their CVE references and severity) whose criteria,
// nested with AND and OR, name rpminfo_tests; each test pairs an object
// (the package name) with a state (an evr "less than" or "less than or
// equal" a version). Tested with real files: Microsoft's CBL-Mariner 2.0
// and Azure Linux 3.0 OVAL. Red Hat OVAL v2, Oracle ELSA and SUSE OVAL use
// the same elements (red-def/linux-def namespaces differ only in prefix,
// which encoding/xml ignores by matching local names) and are read by
// their documented structure only: their platform criteria (tests that
// the release package is installed, signed by the vendor's key) carry no
// evr less-than state and are skipped, which leaves the package tests.

type ovalDefinitions struct {
	Definitions []ovalDefinition `xml:"definitions>definition"`
	Tests       []ovalTest       `xml:"tests>rpminfo_test"`
	Objects     []ovalObject     `xml:"objects>rpminfo_object"`
	States      []ovalState      `xml:"states>rpminfo_state"`
}

type ovalDefinition struct {
	Class    string `xml:"class,attr"`
	ID       string `xml:"id,attr"`
	Metadata struct {
		Title      string `xml:"title"`
		References []struct {
			ID     string `xml:"ref_id,attr"`
			Source string `xml:"source,attr"`
		} `xml:"reference"`
		Severity string `xml:"severity"`
		// Red Hat and SUSE keep it under advisory.
		Advisory struct {
			Severity string `xml:"severity"`
		} `xml:"advisory"`
	} `xml:"metadata"`
	Criteria ovalCriteria `xml:"criteria"`
}

type ovalCriteria struct {
	Operator  string         `xml:"operator,attr"`
	Criteria  []ovalCriteria `xml:"criteria"`
	Criterion []struct {
		TestRef string `xml:"test_ref,attr"`
		Negate  bool   `xml:"negate,attr"`
	} `xml:"criterion"`
}

type ovalTest struct {
	ID     string `xml:"id,attr"`
	Object struct {
		Ref string `xml:"object_ref,attr"`
	} `xml:"object"`
	State struct {
		Ref string `xml:"state_ref,attr"`
	} `xml:"state"`
}

type ovalObject struct {
	ID   string `xml:"id,attr"`
	Name string `xml:"name"`
}

type ovalState struct {
	ID  string `xml:"id,attr"`
	EVR struct {
		Operation string `xml:"operation,attr"`
		Value     string `xml:",chardata"`
	} `xml:"evr"`
}

// maxOVALBytes bounds one OVAL document (Red Hat's largest are ~500 MB
// uncompressed; the vendors split them per release).
const maxOVALBytes = 1 << 30

// ovalEcosystems maps OVAL file names to the ecosystem of the release they
// cover: the files carry the platform ("CBL-Mariner") but not its release.
var ovalEcosystems = []struct {
	re  *regexp.Regexp
	eco string
}{
	{regexp.MustCompile(`^cbl-mariner-(\d+\.\d+)-oval\.xml$`), "Mariner:"},
	{regexp.MustCompile(`^azurelinux-(\d+\.\d+)-oval\.xml$`), "Azure Linux:"},
	// Red Hat's OVAL v2 (rhel-8.oval.xml) and Oracle's ELSA OVAL
	// (com.oracle.elsa-ol8.xml): read by their documented structure only.
	{regexp.MustCompile(`^rhel-(\d+)(?:-including-unpatched)?\.oval\.xml$`), "Red Hat:enterprise_linux:"},
	{regexp.MustCompile(`^(?:com\.oracle\.elsa-)?ol(\d+)\.xml$`), "Oracle Linux:"},
}

// OVALEcosystem is the ecosystem an OVAL file of that name covers, or "".
func OVALEcosystem(file string) string {
	for _, m := range ovalEcosystems {
		if g := m.re.FindStringSubmatch(file); g != nil {
			return m.eco + g[1]
		}
	}
	return ""
}

// AddOVAL ingests an OVAL 5 document for the ecosystem eco. Each
// vulnerability definition becomes one entry per package it tests, named
// by the definition's CVE (or its own ID), with the definition's severity
// and a range fixed at the state's "less than" version.
func (b *Builder) AddOVAL(data []byte, eco string) (int, error) {
	if len(data) > maxOVALBytes {
		return 0, fmt.Errorf("OVAL document of %d bytes, over %d", len(data), maxOVALBytes)
	}
	var doc ovalDefinitions
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		return 0, fmt.Errorf("OVAL: %w", err)
	}
	objects := map[string]string{}
	for _, o := range doc.Objects {
		objects[o.ID] = strings.TrimSpace(o.Name)
	}
	states := map[string]ovalState{}
	for _, s := range doc.States {
		states[s.ID] = s
	}
	tests := map[string]ovalTest{}
	for _, t := range doc.Tests {
		tests[t.ID] = t
	}
	n := 0
	for _, d := range doc.Definitions {
		if d.Class != "" && d.Class != "vulnerability" && d.Class != "patch" {
			continue
		}
		id, aliases := d.ID, []string(nil)
		for _, r := range d.Metadata.References {
			if r.Source == "CVE" && strings.HasPrefix(r.ID, "CVE-") {
				if id == d.ID {
					id = r.ID
				} else {
					aliases = append(aliases, r.ID)
				}
			}
		}
		sev := d.Metadata.Severity
		if sev == "" {
			sev = d.Metadata.Advisory.Severity
		}
		added := false
		for _, ref := range d.Criteria.testRefs(0) {
			t, ok := tests[ref]
			if !ok {
				continue
			}
			name, st := objects[t.Object.Ref], states[t.State.Ref]
			evr := strings.TrimSpace(st.EVR.Value)
			if name == "" || evr == "" {
				continue
			}
			evr = strings.TrimPrefix(evr, "0:") // the rpm ordering reads no epoch as 0
			// Only "less than" states are matched. Microsoft writes "less than
			// or equal" ("installed with version X or earlier") for CVEs it
			// marks not applicable or without a patch, at the version it
			// shipped: not evidence that an older build is affected.
			if st.EVR.Operation != "less than" {
				continue // and platform tests: a release or a signing key
			}
			ev := Event{Fixed: evr}
			b.add(eco, name, Entry{
				ID: id, Aliases: aliases, Summary: firstLine(d.Metadata.Title), Severity: SeverityOfWord(sev),
				Ranges: []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, ev}}},
			})
			added = true
		}
		if added {
			n++
		}
	}
	return n, nil
}

// maxCriteriaDepth bounds nesting: real documents nest three or four deep.
const maxCriteriaDepth = 32

// testRefs lists the tests a criteria tree names, outside negations; AND
// and OR both contribute their package tests (an OR lists alternatives
// that each affect, an AND pairs a package test with platform tests).
func (c ovalCriteria) testRefs(depth int) []string {
	if depth > maxCriteriaDepth {
		return nil
	}
	var out []string
	for _, cr := range c.Criterion {
		if !cr.Negate {
			out = append(out, cr.TestRef)
		}
	}
	for _, sub := range c.Criteria {
		out = append(out, sub.testRefs(depth+1)...)
	}
	return out
}
