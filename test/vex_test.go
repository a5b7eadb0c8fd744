package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
)

// TestVEXSuppression: an OpenVEX statement (lodash's CVE-2020-8203, by
// alias, not in the execute path) and a CycloneDX VEX analysis
// (minimist's GHSA-xvch-5gv4-984h, not reachable) for the corpus image by
// digest suppress those findings: still listed, marked with the status and
// justification, out of the counts; CycloneDX output carries the analysis.
// A VEX document stored through /v1/vex applies to every later scan.
func TestVEXSuppression(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	copyDB(t, dir)
	img := corpusImage(t, "debian-bookworm-app").Location
	scanJSON := func(args ...string) report.Report {
		out, err := exec.Command(bin, append([]string{"scan", "--store", dir, "--quiet", "--format", "json"}, append(args, img)...)...).Output()
		if err != nil {
			t.Fatalf("scan %v: %v", args, err)
		}
		var r report.Report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	find := func(r report.Report, id string) scan.Finding {
		for _, f := range r.Findings {
			if f.ID == id || strings.Contains(strings.Join(f.Aliases, " "), id) {
				return f
			}
		}
		t.Fatalf("no %s", id)
		return scan.Finding{}
	}
	before := scanJSON()
	d := before.Image.Digest
	lodash, minimist := find(before, "CVE-2020-8203"), find(before, "GHSA-xvch-5gv4-984h")
	if lodash.Whitelisted || minimist.Whitelisted {
		t.Fatal("suppressed before any VEX")
	}
	openvex := fmt.Sprintf(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1","author":"security@example.com","timestamp":"2026-12-01T00:00:00Z","version":1,
		"statements":[{"vulnerability":{"name":"CVE-2020-8203"},"products":[{"@id":"pkg:oci/debian-bookworm-app@%s","subcomponents":[{"@id":"pkg:npm/lodash@4.17.15"}]}],
		"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`, strings.Replace(d, ":", "%3A", 1))
	cdxvex := fmt.Sprintf(`{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"metadata":{"component":{"bom-ref":"img","type":"container","name":"app","purl":"pkg:oci/app@%s"}},
		"components":[{"bom-ref":"m","type":"library","name":"minimist","version":"1.2.0","purl":"pkg:npm/minimist@1.2.0"}],
		"vulnerabilities":[{"id":"GHSA-xvch-5gv4-984h","analysis":{"state":"not_affected","justification":"code_not_reachable"},"affects":[{"ref":"m"}]}]}`, d)
	// The inputs are valid documents of their standards.
	sch := schemas(t)
	ovs, err := os.ReadFile(filepath.Join("testdata", "schemas", "openvex_json_schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	ovDoc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(ovs))
	c.AddResource("https://github.com/openvex/spec/openvex_json_schema_0.2.0.json", ovDoc)
	ovSchema, err := c.Compile("https://github.com/openvex/spec/openvex_json_schema_0.2.0.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]struct {
		s   *jsonschema.Schema
		doc string
	}{"OpenVEX": {ovSchema, openvex}, "CycloneDX VEX": {sch["cyclonedx"], cdxvex}} {
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(v.doc))
		if err := v.s.Validate(inst); err != nil {
			t.Errorf("the %s test document is not valid: %v", name, err)
		}
	}
	a, b := filepath.Join(t.TempDir(), "a.openvex.json"), filepath.Join(t.TempDir(), "b.cdx.json")
	os.WriteFile(a, []byte(openvex), 0o644)
	os.WriteFile(b, []byte(cdxvex), 0o644)
	after := scanJSON("--vex", a, "--vex", b)
	l, m := find(after, "CVE-2020-8203"), find(after, "GHSA-xvch-5gv4-984h")
	if !l.Whitelisted || l.VEXStatus != "not_affected" || l.VEXJustification != "vulnerable_code_not_in_execute_path" {
		t.Errorf("lodash: %+v", l)
	}
	if !m.Whitelisted || m.VEXJustification != "code_not_reachable" {
		t.Errorf("minimist: %+v", m)
	}
	total := func(r report.Report) int {
		n := 0
		for _, bySev := range r.Summary {
			for _, c := range bySev {
				n += c
			}
		}
		return n
	}
	if total(before)-total(after) != 2 {
		t.Errorf("counts %d → %d: the two suppressed findings should leave them", total(before), total(after))
	}
	// A statement for another image, or another package, suppresses nothing.
	other := strings.ReplaceAll(openvex, d[7:], strings.Repeat("0", 64))
	os.WriteFile(a, []byte(other), 0o644)
	if f := find(scanJSON("--vex", a), "CVE-2020-8203"); f.Whitelisted {
		t.Error("a VEX statement for another image applied")
	}
	// CycloneDX output carries the analysis.
	out, _ := exec.Command(bin, "scan", "--store", dir, "--quiet", "--format", "cyclonedx", "--vex", b, img).Output()
	if !strings.Contains(string(out), `"state": "not_affected"`) || !strings.Contains(string(out), `"justification": "code_not_reachable"`) {
		t.Errorf("CycloneDX analysis missing")
	}

	// Stored documents: through the API, on the CLI's store.
	api := newAPIEnvAt(t, dir)
	code, body := api.do(t, "POST", "/v1/vex?name=team-vex", openvex)
	var doc struct{ ID string }
	json.Unmarshal([]byte(body), &doc)
	if code != http.StatusCreated || doc.ID == "" {
		t.Fatalf("POST /v1/vex: %d %s", code, body)
	}
	if f := find(scanJSON(), "CVE-2020-8203"); !f.Whitelisted || !strings.Contains(f.WhitelistReason, "team-vex") {
		t.Errorf("a stored VEX document did not apply: %+v", f)
	}
	if code, _ := api.do(t, "POST", "/v1/vex", `{"not":"vex"}`); code != http.StatusBadRequest {
		t.Errorf("a document that is not VEX: %d", code)
	}
	if code, _ := api.do(t, "DELETE", "/v1/vex/"+doc.ID, ""); code != http.StatusNoContent {
		t.Errorf("DELETE: %d", code)
	}
	if f := find(scanJSON(), "CVE-2020-8203"); f.Whitelisted {
		t.Error("a deleted VEX document still applies")
	}
}
