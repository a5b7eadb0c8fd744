package advisory

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Rating is what NVD says of one CVE: the severity chosen by precedence
// and every CVSS metric it carries. Only metrics are kept: descriptions
// and CPE configurations would multiply the DB for nothing a match uses.
type Rating struct {
	Severity scan.Severity `json:"severity"`
	// Source is who scored the chosen metric: NVD (nvd@nist.gov) or a CNA.
	Source string      `json:"source"`
	CVSS   []scan.CVSS `json:"cvss"`
}

type nvdCVE struct {
	ID      string                     `json:"id"`
	Metrics map[string][]nvdMetricJSON `json:"metrics"`
}

type nvdMetricJSON struct {
	Source   string `json:"source"`
	Type     string `json:"type"`
	CVSSData struct {
		Version      string  `json:"version"`
		VectorString string  `json:"vectorString"`
		BaseScore    float64 `json:"baseScore"`
		BaseSeverity string  `json:"baseSeverity"`
	} `json:"cvssData"`
	// CVSS v2 keeps its severity beside cvssData.
	BaseSeverity string `json:"baseSeverity"`
}

// nvdVersions orders metric kinds, newest first.
var nvdVersions = []string{"cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2"}

// rate applies the precedence: NVD's own (Primary) metrics first, newest
// CVSS version first, then the secondary ones (a CNA's).
func rate(c nvdCVE) (Rating, bool) {
	r := Rating{CVSS: []scan.CVSS{}}
	var chosen *scan.CVSS
	for _, primary := range []bool{true, false} {
		for _, kind := range nvdVersions {
			for _, m := range c.Metrics[kind] {
				if (m.Type == "Primary") != primary {
					continue
				}
				sev := m.CVSSData.BaseSeverity
				if sev == "" {
					sev = m.BaseSeverity
				}
				v := scan.CVSS{Version: m.CVSSData.Version, Vector: m.CVSSData.VectorString, Score: m.CVSSData.BaseScore, Source: m.Source, Severity: SeverityOfWord(sev)}
				if v.Severity == scan.Unknown && v.Score > 0 {
					v.Severity = SeverityOfScore(v.Score)
				}
				r.CVSS = append(r.CVSS, v)
				if chosen == nil && v.Severity != scan.Unknown {
					chosen = &r.CVSS[len(r.CVSS)-1]
				}
			}
		}
	}
	if len(r.CVSS) == 0 {
		return r, false
	}
	r.Severity = scan.Unknown
	if chosen != nil {
		r.Severity, r.Source = chosen.Severity, chosen.Source
	}
	return r, true
}

// maxNVDBytes bounds one NVD document (a yearly feed is ~100 MB).
const maxNVDBytes = 1 << 30

// AddNVD ingests NVD CVE API 2.0 data: a feed or API page
// ({"vulnerabilities": [{"cve": …}]}, gzipped or not) or one cve object
// per file. It returns the CVEs rated.
func (b *Builder) AddNVD(data []byte) (int, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return 0, fmt.Errorf("NVD: %w", err)
		}
		if data, err = io.ReadAll(io.LimitReader(zr, maxNVDBytes+1)); err != nil {
			return 0, fmt.Errorf("NVD: %w", err)
		}
		if len(data) > maxNVDBytes {
			return 0, fmt.Errorf("NVD: over %d bytes uncompressed", maxNVDBytes)
		}
	}
	var doc struct {
		nvdCVE
		Vulnerabilities []struct {
			CVE nvdCVE `json:"cve"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, fmt.Errorf("NVD: %w", err)
	}
	cves := []nvdCVE{}
	for _, v := range doc.Vulnerabilities {
		cves = append(cves, v.CVE)
	}
	if doc.ID != "" {
		cves = append(cves, doc.nvdCVE)
	}
	if len(cves) == 0 {
		return 0, errors.New("NVD: neither a cve object nor a vulnerabilities list")
	}
	n := 0
	for _, c := range cves {
		if !strings.HasPrefix(c.ID, "CVE-") {
			continue
		}
		if r, ok := rate(c); ok {
			if b.nvd == nil {
				b.nvd = map[string]Rating{}
			}
			b.nvd[c.ID] = r
			n++
		}
	}
	return n, nil
}

// NVD returns the DB's NVD ratings by CVE ID (none: an empty map).
func (db *DB) NVD(ctx context.Context) (map[string]Rating, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.nvd != nil {
		return db.nvd, nil
	}
	db.nvd = map[string]Rating{}
	if db.Manifest.NVD == "" {
		return db.nvd, nil
	}
	if err := store.GetJSON(ctx, db.st, db.Manifest.NVD, &db.nvd); err != nil {
		return nil, fmt.Errorf("advisory DB %s, NVD ratings: %w", db.Manifest.Version, err)
	}
	return db.nvd, nil
}

// publishNVD writes the ratings beside the indexes.
func publishNVD(ctx context.Context, st store.Store, b *Builder, m *Manifest) error {
	if len(b.nvd) == 0 {
		return nil
	}
	m.NVD = storekey.AdvisoryNVD(m.Version)
	return store.PutJSON(ctx, st, m.NVD, b.nvd)
}
