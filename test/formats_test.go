package test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/layerscan/layerscan/shared/format"
	"github.com/layerscan/layerscan/shared/report"
)

// schemas compiles the official schemas in testdata/schemas (SOURCES.md
// says where each comes from) under the IDs they declare.
func schemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	ids := map[string]string{}
	for _, name := range []string{"bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json", "sarif-schema-2.1.0.json", "spdx-2.3-schema.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "schemas", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" { // draft-04 (SARIF) says "id"
			id, _ = doc.(map[string]any)["id"].(string)
		}
		if id == "" {
			t.Fatalf("%s declares no $id", name)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	out := map[string]*jsonschema.Schema{}
	for f, name := range map[string]string{format.CycloneDX: "bom-1.6.schema.json", format.SARIF: "sarif-schema-2.1.0.json", format.SPDX: "spdx-2.3-schema.json"} {
		s, err := c.Compile(ids[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[f] = s
	}
	return out
}

// TestStandardFormatsValidate: every corpus image's report in SARIF 2.1.0,
// CycloneDX 1.6 and SPDX 2.3 validates against the official schema, and
// each carries what the JSON report has: one SARIF result per finding,
// one component or package per package, one CycloneDX vulnerability per
// vulnerability ID.
func TestStandardFormatsValidate(t *testing.T) {
	sch := schemas(t)
	for f, s := range sch { // the schemas do refuse what is not a document
		if s.Validate(map[string]any{"version": 1}) == nil {
			t.Fatalf("the %s schema accepts anything", f)
		}
	}
	db := advisoryStore(t)
	for _, img := range []string{"debian-bookworm-app", "alpine-3.9-app.tar", "ubuntu-24.04-noble", "almalinux-9.0-micro-arm64.tar", "rpm-cbl-mariner-2.0-sqlite.tar", "rpm-sles-15.3-ndb.tar", "rpm-rhel-8.8-bdb.tar"} {
		r := scanImage(t, db, corpusImage(t, img))
		vulnIDs := map[string]bool{}
		for _, f := range r.Findings {
			if f.Package != nil && (f.Category == "system-vulnerability" || f.Category == "application-vulnerability" || f.Category == "malicious-sample") {
				vulnIDs[f.ID] = true
			}
		}
		for _, f := range []string{format.SARIF, format.CycloneDX, format.SPDX} {
			var buf bytes.Buffer
			if err := format.Write(&buf, f, r); err != nil {
				t.Fatalf("%s %s: %v", img, f, err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatalf("%s %s: %v", img, f, err)
			}
			if err := sch[f].Validate(inst); err != nil {
				t.Errorf("%s %s does not validate: %v", img, f, err)
			}
			counts(t, img, f, buf.Bytes(), r, len(vulnIDs))
		}
	}
}

func counts(t *testing.T, img, f string, b []byte, r *report.Report, vulns int) {
	t.Helper()
	switch f {
	case format.SARIF:
		var doc struct {
			Runs []struct {
				Results []struct {
					RuleID     string `json:"ruleId"`
					Properties map[string]any
				}
				Tool struct {
					Driver struct {
						Rules []struct{ Properties map[string]any }
					}
				}
			}
		}
		json.Unmarshal(b, &doc)
		if len(doc.Runs) != 1 || len(doc.Runs[0].Results) != len(r.Findings) {
			t.Errorf("%s sarif: %d results for %d findings", img, len(doc.Runs[0].Results), len(r.Findings))
		}
		for _, rule := range doc.Runs[0].Tool.Driver.Rules {
			if s, _ := rule.Properties["security-severity"].(string); s == "" {
				t.Errorf("%s sarif: a rule without security-severity", img)
				break
			}
		}
	case format.CycloneDX:
		var doc struct {
			Components      []struct{ PURL string }
			Vulnerabilities []struct {
				ID      string
				Affects []struct{ Ref string }
			}
		}
		json.Unmarshal(b, &doc)
		if len(doc.Components) != len(r.Packages) || len(doc.Vulnerabilities) != vulns {
			t.Errorf("%s cyclonedx: %d components for %d packages, %d vulnerabilities for %d IDs", img, len(doc.Components), len(r.Packages), len(doc.Vulnerabilities), vulns)
		}
	case format.SPDX:
		var doc struct {
			Packages      []struct{ Name string }
			Relationships []struct{ RelationshipType string }
		}
		json.Unmarshal(b, &doc)
		contains := 0
		for _, rel := range doc.Relationships {
			if strings.EqualFold(rel.RelationshipType, "CONTAINS") {
				contains++
			}
		}
		if len(doc.Packages) != len(r.Packages)+1 || contains != len(r.Packages) {
			t.Errorf("%s spdx: %d packages, %d CONTAINS for %d packages", img, len(doc.Packages), contains, len(r.Packages))
		}
	}
}
