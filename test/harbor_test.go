package test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// harborSchemas compiles the adapter spec's components.schemas (OpenAPI
// 3.0 schemas are JSON Schema draft-04 with a few extra keywords, which
// the validator ignores).
func harborSchemas(t *testing.T) func(name string, body []byte) error {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "schemas", "harbor-scanner-adapter-openapi-v1.2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(map[string]any{"$schema": "http://json-schema.org/draft-04/schema#", "components": spec["components"]})
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("https://layerscan.test/harbor.json", doc); err != nil {
		t.Fatal(err)
	}
	return func(name string, body []byte) error {
		s, err := c.Compile("https://layerscan.test/harbor.json#/components/schemas/" + name)
		if err != nil {
			return err
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			return err
		}
		return s.Validate(inst)
	}
}

// TestHarborScannerAdapter: Harbor's side of the pluggable scanner API
// against layerscan serving it, with a ci key over Basic auth, for the
// corpus image pushed to a real docker-registry: metadata, scan (202 and
// an id), the report polled (302 with Refresh-After, then 200) in both
// vulnerability report types and as SBOMs, errors in the spec's envelope;
// every body checked against the spec's schemas.
func TestHarborScannerAdapter(t *testing.T) {
	// Harbor's registry takes only its robot's credentials, which Harbor
	// lends with each scan request: the connection has none of its own, so
	// every pull, layers included, must use what Harbor passed.
	t.Setenv("LAYERSCAN_SECRET_KEY", "harbor-test-secret-key")
	host := authRegistry(t, map[string]string{"robot$scanner": "robot-secret"})
	pushAs(t, host+"/library/app:1.0", "robot$scanner", "robot-secret")
	img := corpusDebian(t)
	d, _ := img.Digest()
	a := newAPIEnv(t)
	a.do(t, "POST", "/v1/registries", `{"id":"harbor","kind":"generic","hosts":["`+host+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)
	_, ci, _ := a.env.Keys.Create(context.Background(), "ci", "harbor", nil, "test")
	validate := harborSchemas(t)
	callAt := func(base, method, path, accept, body string) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.SetBasicAuth("harbor", ci)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/vnd.scanner.adapter.scan.request+json; version=1.1")
		}
		// Harbor follows no redirect here: the 302 is "not ready yet".
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	call := func(method, path, accept, body string) (*http.Response, []byte) {
		return callAt(a.base, method, path, accept, body)
	}
	scanRequest := func(digest string) string {
		return fmt.Sprintf(`{"registry":{"url":"http://%s","authorization":"Basic %s"},"artifact":{"repository":"library/app","digest":%q,"tag":"1.0","mime_type":"application/vnd.oci.image.manifest.v1+json"}}`, host, base64.StdEncoding.EncodeToString([]byte("robot$scanner:robot-secret")), digest)
	}

	// Not ready yet: a scan planned on the same store by an instance whose
	// jobs are recorded, never run, is answered 302 with Refresh-After.
	{
		pending, _ := throttledEnv(t, a.store, time.Now)
		srv := httptest.NewServer(pending.LocalHandler())
		defer srv.Close()
		tiny := tinyImage(t, map[string]string{"etc/pending": "x"}, time.Now())
		ref, _ := name.ParseReference(host+"/library/app:pending", name.Insecure)
		if err := remote.Write(ref, tiny, remote.WithAuth(&authn.Basic{Username: "robot$scanner", Password: "robot-secret"})); err != nil {
			t.Fatal(err)
		}
		other, _ := tiny.Digest()
		resp, body := callAt(srv.URL, "POST", "/api/v1/scan", "", scanRequest(other.String()))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("scan: %d %s", resp.StatusCode, body)
		}
		var sr struct{ ID string }
		json.Unmarshal(body, &sr)
		resp, body = callAt(srv.URL, "GET", "/api/v1/scan/"+sr.ID+"/report", "application/vnd.security.vulnerability.report; version=1.1", "")
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Refresh-After") == "" {
			t.Errorf("a running scan's report: %d, Refresh-After %q, %s", resp.StatusCode, resp.Header.Get("Refresh-After"), body)
		}
	}

	resp, body := call("GET", "/api/v1/metadata", "", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.scanner.adapter.metadata+json") || !strings.Contains(string(body), "vulnerability-database-updated-at") {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	if err := validate("ScannerAdapterMetadata", body); err != nil {
		t.Errorf("metadata: %v", err)
	}
	resp, body = call("POST", "/api/v1/scan", "", scanRequest(d.String()))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("scan: %d %s", resp.StatusCode, body)
	}
	if err := validate("ScanResponse", body); err != nil {
		t.Errorf("scan response: %v", err)
	}
	var sr struct{ ID string }
	json.Unmarshal(body, &sr)
	var report []byte
	for i := 0; ; i++ {
		resp, body = call("GET", "/api/v1/scan/"+sr.ID+"/report", "application/vnd.security.vulnerability.report; version=1.1", "")
		if resp.StatusCode == http.StatusFound {
			if resp.Header.Get("Refresh-After") == "" {
				t.Error("302 without Refresh-After")
			}
		} else {
			report = body
			break
		}
		if i > 400 {
			t.Fatal("the report never came")
		}
		time.Sleep(25 * time.Millisecond)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.security.vulnerability.report; version=1.1" {
		t.Fatalf("report: %d %s %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), report)
	}
	// Every layer was pulled with the lent credentials, and they are in no
	// record the scan left.
	if p := waitScan(t, a.base, a.key, sr.ID); p.Status != "done" {
		t.Errorf("the scan did not complete with the lent credentials: %+v", p)
	}
	if storeHolds(t, a.store, "robot-secret") || storeHolds(t, a.store, base64.StdEncoding.EncodeToString([]byte("robot$scanner:robot-secret"))) {
		t.Error("the lent credentials are stored in the clear")
	}
	if err := validate("HarborVulnerabilityReport", report); err != nil {
		t.Errorf("report: %v", err)
	}
	var hr struct {
		Severity        string
		Vulnerabilities []struct {
			ID, Package, Version string
			FixVersion           string         `json:"fix_version"`
			VendorAttributes     map[string]any `json:"vendor_attributes"`
		}
	}
	json.Unmarshal(report, &hr)
	cats := map[string]int{}
	for _, v := range hr.Vulnerabilities {
		cats[fmt.Sprint(v.VendorAttributes["category"])]++
	}
	if hr.Severity != "Critical" || cats["system-vulnerability"] == 0 || cats["malicious-sample"] == 0 || cats["sensitive-file"] == 0 {
		t.Errorf("report: severity %s, categories %v", hr.Severity, cats)
	}
	// The v1.0 type, the default without Accept.
	resp, body = call("GET", "/api/v1/scan/"+sr.ID+"/report", "", "")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "vuln.report.harbor+json") || validate("HarborVulnerabilityReport", body) != nil {
		t.Errorf("v1.0 report: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// SBOMs, in both types; the CycloneDX one is a valid CycloneDX BOM.
	sch := schemas(t)
	for _, mt := range []string{"application/vnd.cyclonedx+json", "application/spdx+json"} {
		resp, body = call("GET", "/api/v1/scan/"+sr.ID+"/report?sbom_media_type="+mt, "application/vnd.security.sbom.report+json; version=1.0", "")
		if resp.StatusCode != 200 || validate("HarborSbomReport", body) != nil {
			t.Errorf("SBOM %s: %d %.200s", mt, resp.StatusCode, body)
			continue
		}
		var sb struct {
			MediaType string          `json:"media_type"`
			SBOM      json.RawMessage `json:"sbom"`
		}
		json.Unmarshal(body, &sb)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(sb.SBOM))
		f := map[string]string{"application/vnd.cyclonedx+json": "cyclonedx", "application/spdx+json": "spdx"}[mt]
		if sb.MediaType != mt || sch[f].Validate(inst) != nil {
			t.Errorf("SBOM %s: media type %s, or the SBOM does not validate", mt, sb.MediaType)
		}
	}
	// Errors, in the spec's envelope.
	for _, tc := range []struct {
		method, path, accept, body string
		code                       int
	}{
		{"GET", "/api/v1/scan/" + sr.ID + "/report", "application/vnd.security.sbom.report+json; version=1.0", "", 400},
		{"GET", "/api/v1/scan/20261201T000000Z-000000000000/report", "", "", 404},
		{"GET", "/api/v1/scan/" + sr.ID + "/report", "application/pdf", "", 501},
		{"POST", "/api/v1/scan", "", `{"registry":{"url":"http://169.254.169.254"},"artifact":{"repository":"x","digest":"sha256:00"}}`, 422},
		{"POST", "/api/v1/scan", "", `not json`, 400},
		// An artifact the registry does not have is the request's fault.
		{"POST", "/api/v1/scan", "", scanRequest("sha256:" + strings.Repeat("0", 64)), 422},
	} {
		resp, body := call(tc.method, tc.path, tc.accept, tc.body)
		if resp.StatusCode != tc.code || validate("ErrorResponse", body) != nil || !strings.Contains(string(body), `"message"`) {
			t.Errorf("%s %s (%s): %d %s", tc.method, tc.path, tc.accept, resp.StatusCode, body)
		}
	}
	// Without the key: 401.
	req, _ := http.NewRequest("GET", a.base+"/api/v1/metadata", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("metadata without a key: %v", resp)
	}
}
