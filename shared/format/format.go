// Package format writes reports in the standards other tools read:
// SARIF 2.1.0 (GitHub code scanning), CycloneDX 1.6 (Dependency-Track,
// SBOM pipelines) and SPDX 2.3, each with the standard's own Go library,
// and as one self-contained HTML page for people.
// The report's own JSON and table are shared/report's.
package format

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/layerscan/layerscan/shared/report"
)

// The formats.
const (
	JSON      = "json"
	Table     = "table"
	SARIF     = "sarif"
	CycloneDX = "cyclonedx"
	SPDX      = "spdx"
)

// Names lists every format.
var Names = []string{JSON, Table, SARIF, CycloneDX, SPDX, HTML}

// Parse reads a format name, in any case.
func Parse(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if !slices.Contains(Names, n) {
		return "", fmt.Errorf("unknown format %q (want one of %s)", name, strings.Join(Names, ", "))
	}
	return n, nil
}

// ContentType is the media type of a format.
func ContentType(f string) string {
	switch f {
	case SARIF:
		return "application/sarif+json"
	case CycloneDX:
		return "application/vnd.cyclonedx+json; version=1.6"
	case SPDX:
		return "application/spdx+json"
	case Table:
		return "text/plain; charset=utf-8"
	case HTML:
		return "text/html; charset=utf-8"
	}
	return "application/json"
}

// FromAccept picks the format an Accept header asks for ("" for none).
func FromAccept(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(mt) {
		case "application/sarif+json":
			return SARIF
		case "application/vnd.cyclonedx+json":
			return CycloneDX
		case "application/spdx+json":
			return SPDX
		case "application/json":
			return JSON
		case "text/html":
			return HTML
		}
	}
	return ""
}

// Write writes one report in a standard format.
func Write(w io.Writer, f string, r *report.Report) error {
	switch f {
	case SARIF:
		return writeSARIF(w, r)
	case CycloneDX:
		return writeCycloneDX(w, r)
	case SPDX:
		return writeSPDX(w, r)
	case HTML:
		return writeHTML(w, r)
	case Table:
		return report.WriteTable(w, r)
	}
	return report.WriteJSON(w, r)
}
