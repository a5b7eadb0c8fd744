package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/format"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
)

// Harbor's pluggable scanner adapter API, v1.2 (goharbor/pluggable-
// scanner-spec), under /api/v1: Harbor registers layerscan as a scanner
// with an API key (Basic or Bearer; role ci is enough), asks it to scan an
// artifact of its registry, and polls for the report.
const (
	harborMetadata  = "application/vnd.scanner.adapter.metadata+json; version=1.1"
	harborScanResp  = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
	harborError     = "application/vnd.scanner.adapter.error+json; version=1.0"
	harborVulnV10   = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
	harborVulnV11   = "application/vnd.security.vulnerability.report; version=1.1"
	harborSBOM      = "application/vnd.security.sbom.report+json; version=1.0"
	mimeSPDX        = "application/spdx+json"
	mimeCycloneDX   = "application/vnd.cyclonedx+json"
	harborOCIImage  = "application/vnd.oci.image.manifest.v1+json"
	harborDockerV22 = "application/vnd.docker.distribution.manifest.v2+json"
)

// refreshAfter is how long Harbor waits before polling a report again.
const refreshAfter = 5

func harborFail(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", harborError)
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": err.Error()}})
}

func harborJSON(w http.ResponseWriter, code int, mime string, v any) {
	w.Header().Set("Content-Type", mime)
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

type harborArtifact struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	Tag        string `json:"tag,omitempty"`
	MimeType   string `json:"mime_type,omitempty"`
}

type harborScanner struct {
	Name    string `json:"name"`
	Vendor  string `json:"vendor"`
	Version string `json:"version"`
}

func scannerInfo() harborScanner {
	return harborScanner{Name: "layerscan", Vendor: "layerscan", Version: pipeline.Version}
}

// harborRoutes serve the adapter API (docs/api.md, Harbor).
func (e *Env) harborRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/metadata", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		updated := ""
		if db, err := advisory.Current(r.Context(), e.Store); err == nil {
			updated = db.Manifest.Created
		}
		consumes := []string{harborOCIImage, harborDockerV22}
		harborJSON(w, http.StatusOK, harborMetadata, map[string]any{
			"scanner": scannerInfo(),
			"capabilities": []map[string]any{
				{"type": "vulnerability", "consumes_mime_types": consumes, "produces_mime_types": []string{harborVulnV11, harborVulnV10}},
				{"type": "sbom", "consumes_mime_types": consumes, "produces_mime_types": []string{harborSBOM},
					"additional_attributes": map[string]any{"sbom_media_types": []string{mimeSPDX, mimeCycloneDX}}},
			},
			"properties": map[string]string{
				"harbor.scanner-adapter/scanner-type":                      "os-package-vulnerability",
				"harbor.scanner-adapter/vulnerability-database-updated-at": updated,
				"layerscan/categories":                                     "system and application vulnerabilities; malware, secrets, baseline and build instructions in vendor_attributes",
			},
		})
	}))
	mux.HandleFunc("POST /api/v1/scan", e.allow(apikeys.Scan, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Registry struct {
				URL           string `json:"url"`
				Authorization string `json:"authorization"`
			} `json:"registry"`
			Artifact harborArtifact `json:"artifact"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			harborFail(w, http.StatusBadRequest, fmt.Errorf("scan request: %w", err))
			return
		}
		ids, err := e.harborScan(r.Context(), req.Registry.URL, req.Registry.Authorization, req.Artifact)
		if err != nil {
			code := http.StatusInternalServerError
			var be BadEvent
			switch {
			case errors.As(err, &be):
				code = http.StatusUnprocessableEntity
			case errors.As(err, new(Refused)), errors.As(err, new(Forbidden)):
				code = http.StatusUnprocessableEntity
			case registryAnswer(err) == http.StatusNotFound:
				code = http.StatusUnprocessableEntity // no such artifact
			}
			harborFail(w, code, err)
			return
		}
		harborJSON(w, http.StatusAccepted, harborScanResp, map[string]string{"id": ids})
	}))
	mux.HandleFunc("GET /api/v1/scan/{id}/report", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		e.harborReport(w, r, r.PathValue("id"))
	}))
}

// harborScan plans the artifact's scan. Harbor's registry must be a
// configured connection (the allow-list). The authorization it passes is
// used for this scan's pulls only: the manifest and config now, and the
// layers through the layer jobs, sealed (LAYERSCAN_SECRET_KEY); without a
// key the layers are pulled with the connection's own login. The scan's
// records never hold it.
func (e *Env) harborScan(ctx context.Context, registryURL, authorization string, a harborArtifact) (string, error) {
	u, err := url.Parse(registryURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", BadEvent{fmt.Errorf("registry.url %q is not an http(s) URL", registryURL)}
	}
	if a.Repository == "" || a.Digest == "" {
		return "", BadEvent{errors.New("artifact.repository and artifact.digest are required")}
	}
	ref := u.Host + "/" + a.Repository + "@" + a.Digest
	if err := covers(ctx, ref); err != nil {
		return "", err
	}
	c, err := e.admit(ctx, u.Host)
	if err != nil {
		return "", err
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return "", err
	}
	req := scanrecord.Request{Source: source.Ref{Kind: source.KindRegistry, Location: ref, Insecure: c.Insecure}, Trigger: "harbor", Tag: a.Tag}
	ids, err := d.PlanWith(ctx, req, authorization)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", errors.New("the artifact has no image to scan")
	}
	return ids[0], nil
}

func (e *Env) harborReport(w http.ResponseWriter, r *http.Request, id string) {
	p, err := scanrecord.ReadProgress(r.Context(), e.Store, id)
	if errors.Is(err, scanrecord.ErrScanGone) {
		harborFail(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		harborFail(w, http.StatusInternalServerError, err)
		return
	}
	if err := covers(r.Context(), p.Ref); err != nil {
		harborFail(w, http.StatusForbidden, err)
		return
	}
	accept := r.Header.Get("Accept")
	mime := harborVulnV10 // the spec: no Accept is the v1.0 Harbor report
	switch {
	case accept == "" || accept == "*/*" || strings.Contains(accept, "vuln.report.harbor+json"):
	case strings.Contains(accept, "vnd.security.vulnerability.report"):
		mime = harborVulnV11
	case strings.Contains(accept, "vnd.security.sbom.report+json"):
		mime = harborSBOM
	default:
		harborFail(w, http.StatusNotImplemented, fmt.Errorf("no report of type %q (%s, %s or %s)", accept, harborVulnV11, harborVulnV10, harborSBOM))
		return
	}
	// An unescaped "+" arrives as a space ("application/spdx json").
	sbomType := strings.ReplaceAll(r.URL.Query().Get("sbom_media_type"), " ", "+")
	if mime == harborSBOM && sbomType != mimeSPDX && sbomType != mimeCycloneDX {
		harborFail(w, http.StatusBadRequest, fmt.Errorf("an SBOM report needs ?sbom_media_type=%s or %s", mimeSPDX, mimeCycloneDX))
		return
	}
	switch p.Status {
	case "running":
		w.Header().Set("Refresh-After", strconv.Itoa(refreshAfter))
		w.Header().Set("Retry-After", strconv.Itoa(refreshAfter)) // the spec's README example
		w.WriteHeader(http.StatusFound)
		return
	case "abandoned":
		harborFail(w, http.StatusInternalServerError, fmt.Errorf("the scan was abandoned: %s", p.Error))
		return
	}
	var rep report.Report
	if err := store.GetJSON(r.Context(), e.Store, p.Report, &rep); err != nil {
		harborFail(w, http.StatusInternalServerError, err)
		return
	}
	artifact := harborArtifact{Repository: repoOf(rep.Image.Ref), Digest: rep.Image.Digest, MimeType: harborOCIImage}
	generated := rep.CreatedAt
	if t, err := time.Parse(time.RFC3339, generated); err == nil {
		generated = t.UTC().Format(time.RFC3339Nano)
	}
	if mime == harborSBOM {
		f := format.SPDX
		if sbomType == mimeCycloneDX {
			f = format.CycloneDX
		}
		var buf bytes.Buffer
		if err := format.Write(&buf, f, &rep); err != nil {
			harborFail(w, http.StatusInternalServerError, err)
			return
		}
		harborJSON(w, http.StatusOK, harborSBOM, map[string]any{
			"generated_at": generated, "artifact": artifact, "scanner": scannerInfo(),
			"media_type": sbomType, "sbom": json.RawMessage(buf.Bytes()),
			"vendor_attributes": map[string]any{"complete": rep.Complete, "advisoryDB": rep.AdvisoryDB.Version},
		})
		return
	}
	harborJSON(w, http.StatusOK, mime, harborVulnReport(&rep, artifact, generated))
}

func repoOf(ref string) string {
	if i := strings.Index(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	if i := strings.IndexAny(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// harborSeverity is Harbor's scale.
func harborSeverity(s scan.Severity) string {
	switch s {
	case scan.Critical:
		return "Critical"
	case scan.High:
		return "High"
	case scan.Medium:
		return "Medium"
	case scan.Low:
		return "Low"
	}
	return "Unknown"
}

// harborVulnReport is the HarborVulnerabilityReport of a report. The spec
// models vulnerabilities only: findings of the other categories (malware,
// secrets, baseline, build instructions) are items too, named by their
// check and path, with vendor_attributes.category saying what they are.
func harborVulnReport(r *report.Report, a harborArtifact, generated string) map[string]any {
	worst := scan.Unknown
	items := []map[string]any{}
	for _, f := range r.Findings {
		if f.Whitelisted {
			continue
		}
		if f.Severity.Rank() > worst.Rank() {
			worst = f.Severity
		}
		item := map[string]any{"id": f.ID, "severity": harborSeverity(f.Severity), "description": f.Title, "links": []string{}, "cwe_ids": []string{}}
		attrs := map[string]any{"category": string(f.Category)}
		if f.Package != nil {
			item["package"], item["version"] = f.Package.Name, f.Package.Version
			if f.FixedVersion != "" {
				item["fix_version"] = f.FixedVersion
			}
		} else {
			item["package"] = f.Path
		}
		if strings.HasPrefix(f.ID, "CVE-") {
			item["links"] = []string{"https://nvd.nist.gov/vuln/detail/" + f.ID}
		} else if strings.HasPrefix(f.ID, "GHSA-") {
			item["links"] = []string{"https://github.com/advisories/" + f.ID}
		}
		cvss := map[string]any{}
		for _, c := range f.CVSS {
			switch {
			case strings.HasPrefix(c.Version, "3") && cvss["score_v3"] == nil:
				cvss["score_v3"], cvss["vector_v3"] = c.Score, c.Vector
			case c.Version == "2.0" && cvss["score_v2"] == nil:
				cvss["score_v2"], cvss["vector_v2"] = c.Score, c.Vector
			}
		}
		if len(cvss) > 0 {
			item["preferred_cvss"] = cvss
		}
		for k, v := range map[string]string{"path": f.Path, "layer": f.LayerDiffID, "severitySource": f.SeveritySource, "fix": f.Remediation, "evidence": f.Evidence} {
			if v != "" {
				attrs[k] = v
			}
		}
		item["vendor_attributes"] = attrs
		items = append(items, item)
	}
	return map[string]any{"generated_at": generated, "artifact": a, "scanner": scannerInfo(), "severity": harborSeverity(worst), "vulnerabilities": items}
}
