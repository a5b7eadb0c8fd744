package format

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
)

// The HTML report is one self-contained file: inline style and script, no
// network (its Content-Security-Policy allows nothing else), every value
// escaped by html/template.
//
//go:embed html.tmpl
var htmlSource string

var htmlPage = template.Must(template.New("report").Parse(htmlSource))

// HTML is the format name of the page.
const HTML = "html"

var sevColors = map[scan.Severity]string{scan.Critical: "#b00020", scan.High: "#e65100", scan.Medium: "#ffb300", scan.Low: "#8bc34a", scan.Unknown: "#bbb"}

type htmlRow struct {
	Severity, Category, ID, What, Installed, Fixed, Layer, Fix, Why string
	Rank                                                            int
	Whitelisted                                                     bool
}

type htmlCell struct {
	ID string
	N  int
}

type htmlSegment struct {
	X, W, N  int
	Severity scan.Severity
	Color    string
}

type htmlBar struct {
	Category      scan.Category
	Y, End, Total int
	Segments      []htmlSegment
}

func writeHTML(w io.Writer, r *report.Report) error {
	data := struct {
		R          *report.Report
		OS         string
		Severities []scan.Severity
		Categories []scan.Category
		Summary    []struct {
			Category scan.Category
			Cells    []htmlCell
		}
		Bars        []htmlBar
		ChartHeight int
		Rows        []htmlRow
	}{R: r, OS: "unknown", Severities: scan.Severities, Categories: scan.Categories}
	if r.Image.OS != nil {
		data.OS = strings.TrimSpace(r.Image.OS.Family + " " + r.Image.OS.Version)
	}
	most := 1
	for _, c := range scan.Categories {
		n := 0
		for _, v := range r.Summary[c] {
			n += v
		}
		most = max(most, n)
	}
	for i, c := range scan.Categories {
		row := struct {
			Category scan.Category
			Cells    []htmlCell
		}{Category: c}
		bar := htmlBar{Category: c, Y: i * 22}
		x := 170
		for _, s := range scan.Severities {
			n := r.Summary[c][s]
			row.Cells = append(row.Cells, htmlCell{ID: fmt.Sprintf("%s-%s", c, s), N: n})
			if n > 0 {
				wd := max(2, n*420/most)
				bar.Segments = append(bar.Segments, htmlSegment{X: x, W: wd, N: n, Severity: s, Color: sevColors[s]})
				x += wd
			}
			bar.Total += n
		}
		bar.End = x
		data.Summary = append(data.Summary, row)
		data.Bars = append(data.Bars, bar)
	}
	data.ChartHeight = len(scan.Categories) * 22
	layers := map[string]string{}
	for _, l := range r.Layers {
		layers[l.DiffID] = fmt.Sprint(l.Index)
	}
	for _, f := range r.Findings {
		row := htmlRow{Severity: string(f.Severity), Rank: f.Severity.Rank(), Category: string(f.Category), ID: f.ID, What: f.Path, Fixed: f.FixedVersion, Layer: layers[f.LayerDiffID], Fix: f.Remediation, Whitelisted: f.Whitelisted, Why: f.WhitelistReason}
		if row.Layer == "" {
			row.Layer = "-"
		}
		if f.Package != nil {
			row.What, row.Installed = f.Package.Name, f.Package.Version
			if f.Path != "" && f.Category != scan.SystemVulnerability {
				row.What += " (" + f.Path + ")"
			}
		} else if f.Evidence != "" {
			row.What += " " + f.Evidence
		}
		data.Rows = append(data.Rows, row)
	}
	return htmlPage.Execute(w, data)
}
