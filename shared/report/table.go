package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/layerscan/layerscan/shared/redact"
	"github.com/layerscan/layerscan/shared/scan"
)

// WriteTable renders the report for a terminal.
func WriteTable(w io.Writer, r *Report) error {
	bw := &errWriter{w: redact.Terminal(w)}
	os := "unknown"
	if r.Image.OS != nil {
		os = strings.TrimSpace(r.Image.OS.Family + " " + r.Image.OS.Version)
	}
	bw.printf("%s (%s)\n", r.Image.Ref, r.Image.Digest)
	bw.printf("platform %s, OS %s, %d layers, %d packages, advisory DB %s\n", r.Image.Platform, os, len(r.Layers), len(r.Packages), r.AdvisoryDB.Version)
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
		bw.printf("\n%s (%d)\n", c, len(fs))
		tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "SEVERITY\tID\tPACKAGE / PATH\tINSTALLED\tFIXED\tLAYER\tFIX\n")
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
				if f.Category != scan.SystemVulnerability && f.Path != "" {
					what += " (" + f.Path + ")"
				}
			}
			sev := string(f.Severity)
			if f.Whitelisted {
				sev += " (whitelisted)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sev, f.ID, what, installed, f.FixedVersion, layerIndex(r, f.LayerDiffID), f.Remediation)
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
