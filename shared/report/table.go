package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/google/osv-scalibr/semantic"

	"github.com/layerscan/layerscan/shared/redact"
	"github.com/layerscan/layerscan/shared/scan"
)

// DefaultWidth is the table's width when the terminal's is unknown.
const DefaultWidth = 120

// WriteTable renders the report for a terminal of DefaultWidth columns.
func WriteTable(w io.Writer, r *Report) error { return WriteTableWidth(w, r, DefaultWidth) }

// plural is "1 package", "2 packages".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteTableWidth renders the report for a terminal of width columns (80
// stays readable): long IDs, paths and evidence are cut with an ellipsis,
// the same way in every row; fix commands are never cut, since they are
// for copying. Vulnerabilities are one row per
// package: all its IDs, the highest severity, the version that fixes all
// of them and one command.
func WriteTableWidth(w io.Writer, r *Report, width int) error {
	if width < 60 {
		width = 60
	}
	bw := &errWriter{w: redact.Terminal(w)}
	os := "unknown"
	if r.Image.OS != nil {
		os = strings.TrimSpace(r.Image.OS.Family + " " + r.Image.OS.Version)
	}
	bw.printf("%s\n  %s\n", r.Image.Ref, r.Image.Digest)
	bw.printf("  platform %s, OS %s, %s, %s\n  advisory DB %s\n", r.Image.Platform, os, plural(len(r.Layers), "layer"), plural(len(r.Packages), "package"), r.AdvisoryDB.Version)
	if !r.Complete {
		bw.printf("\nINCOMPLETE SCAN: the results below miss what could not be analysed:\n")
		for _, e := range r.Errors {
			bw.printf("  ! %s\n", e)
		}
	}
	for _, c := range r.Coverage {
		if !c.Covered {
			bw.printf("\nNOT CHECKED: %s\n", c.Note)
		}
	}
	for _, wn := range r.Warnings {
		bw.printf("warning: %s\n", wn)
	}
	if f := r.Filtered; f != nil && f.Hidden > 0 {
		bw.printf("\nseverity filter %s hid %d findings", f.Severity, f.Hidden)
		if f.HiddenUnknown > 0 {
			bw.printf(", %d of them of UNKNOWN severity (not rated, which is not the same as low)", f.HiddenUnknown)
		}
		bw.printf("\n")
	}
	bw.printf("\n")
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "CATEGORY\tCRITICAL\tHIGH\tMEDIUM\tLOW\tUNKNOWN\n")
	for _, c := range scan.Categories {
		s := r.Summary[c]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", c, s[scan.Critical], s[scan.High], s[scan.Medium], s[scan.Low], s[scan.Unknown])
	}
	tw.Flush()
	for _, c := range scan.Categories {
		var fs []scan.Finding
		for _, f := range r.Findings {
			if f.Category == c {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		rows := tableRows(r, c, fs)
		if len(rows) == len(fs) {
			bw.printf("\n%s (%d)\n", c, len(fs))
		} else {
			bw.printf("\n%s (%s in %s)\n", c, plural(len(fs), "finding"), plural(len(rows), "package"))
		}
		if width < wideTable {
			narrowRows(bw, rows, width)
			continue
		}
		// The fixed columns take about 60 of the width; what and the fix
		// share the rest.
		rest := width - 60
		whatMax, idMax := max(24, rest/2+10), max(40, rest/2)
		tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "SEVERITY\tID\tPACKAGE / PATH\tINSTALLED\tFIXED\tLAYER\tFIX\n")
		for _, row := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.sev, idList(row.ids, idMax), redact.Clip(row.what, whatMax), redact.Clip(row.installed, 24), redact.Clip(row.fixed, 24), row.layer, row.fix)
		}
		tw.Flush()
	}
	return bw.err
}

func layerIndex(r *Report, diffID string) string {
	for _, l := range r.Layers {
		if l.DiffID == diffID {
			return fmt.Sprint(l.Index)
		}
	}
	return "-"
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }

type tableRow struct {
	sev                                string
	ids                                []string
	what, installed, fixed, layer, fix string
}

// wideTable is the width from which findings are columns; below it each
// is a few lines, so that 80 columns stay readable.
const wideTable = 110

// idList lists IDs up to n characters, then how many more there are.
func idList(ids []string, n int) string {
	out := ""
	for i, id := range ids {
		more := ""
		if rest := len(ids) - i - 1; rest > 0 {
			more = fmt.Sprintf(" +%d", rest)
		}
		next := id
		if out != "" {
			next = out + ", " + id
		}
		if len([]rune(next))+len(more) > n && out != "" {
			return fmt.Sprintf("%s +%d", out, len(ids)-i)
		}
		out = next
	}
	return redact.Clip(out, n)
}

// narrowRows writes each row as lines that fit width: the severity and
// the package (installed → fixed), its IDs, its fix.
func narrowRows(bw *errWriter, rows []tableRow, width int) {
	const indent = "          "
	for _, row := range rows {
		head := row.what
		if row.installed != "" {
			head += " " + row.installed
			if row.fixed != "" {
				head += " → " + row.fixed
			}
		}
		if row.layer != "-" && row.layer != "" {
			head += "  (layer " + row.layer + ")"
		}
		bw.printf("%-9s %s\n", row.sev, redact.Clip(head, width-11))
		bw.printf("%s%s\n", indent, idList(row.ids, width-11))
		if row.fix != "" {
			// Never cut: a fix command is for copying; the terminal wraps it.
			bw.printf("%sfix: %s\n", indent, row.fix)
		}
	}
}

// tableRows makes the rows of one category: vulnerabilities grouped by
// package, other findings one row each.
func tableRows(r *Report, c scan.Category, fs []scan.Finding) []tableRow {
	vuln := c == scan.SystemVulnerability || c == scan.ApplicationVulnerability
	var rows []tableRow
	index := map[string]int{}
	group := map[int][]scan.Finding{}
	for _, f := range fs {
		what, installed := f.Path, ""
		switch {
		case f.Package == nil && what == "":
			what = redact.Clip(f.Evidence, 100)
		case f.Package == nil && f.Evidence != "":
			what += " (" + redact.Clip(f.Evidence, 60) + ")"
		}
		if f.Package != nil {
			what, installed = f.Package.Name, f.Package.Version
			// Language packages repeat across projects: say which one.
			if c != scan.SystemVulnerability && f.Path != "" {
				what += " (" + f.Path + ")"
			}
		}
		key := ""
		if vuln && f.Package != nil {
			key = what + "\x00" + installed
		}
		if i, ok := index[key]; ok && key != "" {
			group[i] = append(group[i], f)
			continue
		}
		sev := string(f.Severity)
		if f.Whitelisted {
			sev += " (whitelisted)"
		}
		rows = append(rows, tableRow{sev: sev, ids: []string{f.ID}, what: what, installed: installed, fixed: f.FixedVersion, layer: layerIndex(r, f.LayerDiffID), fix: f.Remediation})
		if key != "" {
			index[key] = len(rows) - 1
			group[len(rows)-1] = []scan.Finding{f}
		}
	}
	for i, g := range group {
		if len(g) < 2 {
			continue
		}
		rows[i] = merged(rows[i], g)
	}
	return rows
}

// merged is one row for every vulnerability of a package: the highest
// severity, its IDs, and the highest fixed version with its command
// (which fixes all of them); a package with unfixed ones says so.
func merged(row tableRow, g []scan.Finding) tableRow {
	top, counted := g[0], 0
	var ids []string
	var best *scan.Finding
	unfixed := 0
	for i := range g {
		f := &g[i]
		if f.Whitelisted {
			continue
		}
		counted++
		ids = append(ids, f.ID)
		if f.Severity.Rank() > top.Severity.Rank() || top.Whitelisted {
			top = *f
		}
		if f.FixedVersion == "" {
			unfixed++
			continue
		}
		if best == nil || versionLess(f.Package.Type, best.FixedVersion, f.FixedVersion) {
			best = f
		}
	}
	if counted == 0 {
		row.sev = string(g[0].Severity) + " (whitelisted)"
		for _, f := range g {
			row.ids = append(row.ids, f.ID)
		}
		return row
	}
	row.sev = string(top.Severity)
	row.ids = ids
	if len(g) > counted {
		row.ids = append(row.ids, fmt.Sprintf("(%d whitelisted)", len(g)-counted))
	}
	row.fixed, row.fix = "", top.Remediation
	if best != nil {
		row.fixed, row.fix = best.FixedVersion, best.Remediation
	}
	if unfixed > 0 {
		row.fix = fmt.Sprintf("%s (%d not fixed yet)", row.fix, unfixed)
	}
	return row
}

// semanticEcosystems maps package types to version orderings.
var semanticEcosystems = map[string]string{
	"deb": "Debian", "apk": "Alpine", "rpm": "Red Hat", "npm": "npm", "pypi": "PyPI", "golang": "Go",
	"maven": "Maven", "gem": "RubyGems", "composer": "Packagist", "cargo": "crates.io", "nuget": "NuGet",
}

func versionLess(typ, a, b string) bool {
	eco, ok := semanticEcosystems[typ]
	if !ok {
		return a < b
	}
	va, err := semantic.Parse(a, eco)
	if err != nil {
		return a < b
	}
	c, err := va.CompareStr(b)
	return err == nil && c < 0
}
