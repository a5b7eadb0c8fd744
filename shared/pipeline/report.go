package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/analyzer/osrelease"
	"github.com/layerscan/layerscan/shared/buildcheck"
	"github.com/layerscan/layerscan/shared/match"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/squash"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/whitelist"
)

// ReportLogic must be bumped whenever the report built from the same layer
// facts and advisory DB may change (squash, matching or report rules): it
// decides whether a stored report may be reused.
const ReportLogic = 4

// BuildReport squashes the layer facts of a scan, detects the OS, matches
// packages against the current advisory DB and writes the report. It reads
// layer facts only, so re-matching after a DB update downloads no layer.
// When a complete report of the same image already exists for the same
// advisory DB, analyzer set and report logic, it is reused: its inputs are
// immutable, so rebuilding it would give the same findings.
func (d *Deps) BuildReport(ctx context.Context, job ReportJob) (*report.Report, error) {
	st, err := d.loadState(ctx, job.ScanID)
	if err != nil {
		return nil, err
	}
	wl, err := whitelist.Load(ctx, d.Store)
	if err != nil {
		return nil, fmt.Errorf("whitelist: %w", err)
	}
	wl.Rules = append(wl.Rules, st.Request.Whitelist...)
	if r, err := d.reuseReport(ctx, st, wl.Fingerprint()); err != nil || r != nil {
		return r, err
	}
	r := &report.Report{
		Schema:    report.Schema,
		Image:     report.Image{Ref: st.Ref, Digest: st.Digest, Platform: st.Platform},
		Complete:  true,
		Errors:    []string{},
		Packages:  []scan.Package{},
		Findings:  []scan.Finding{},
		Scanner:   report.Scanner{Version: Version, AnalyzerSet: st.AnalyzerSet, Logic: ReportLogic, Policy: wl.Fingerprint()},
		CreatedAt: d.now().Format(time.RFC3339),
	}
	facts := make([]*scan.LayerFacts, 0, len(st.Layers))
	for _, l := range st.Layers {
		rl := report.Layer{Index: l.Index, Digest: l.Digest, DiffID: l.DiffID, CreatedBy: l.CreatedBy}
		var m Marker
		if err := store.GetJSON(ctx, d.Store, doneKey(st.ID, l.DiffID), &m); err != nil {
			rl.Status, rl.Error = "failed", "layer was never analysed: "+err.Error()
		} else {
			rl.Status, rl.Error = m.Status, m.Error
			if rl.Digest == "" {
				rl.Digest = m.Digest
			}
		}
		if rl.Status != "failed" {
			var lf scan.LayerFacts
			if err := store.GetJSON(ctx, d.Store, factsKey(l.DiffID, st.AnalyzerSet), &lf); err != nil {
				rl.Status, rl.Error = "failed", "layer facts unreadable: "+err.Error()
			} else {
				facts = append(facts, &lf)
				if rl.Digest == "" {
					rl.Digest = lf.Digest
				}
				for _, n := range lf.Notes {
					r.Warnings = append(r.Warnings, fmt.Sprintf("layer %d: %s", l.Index, n))
				}
			}
		}
		if rl.Status == "failed" {
			r.Complete = false
			r.Errors = append(r.Errors, fmt.Sprintf("layer %d (%s) failed: %s", l.Index, l.DiffID, rl.Error))
		}
		r.Layers = append(r.Layers, rl)
	}

	img := squash.Squash(facts)
	if len(img.Errors) > 0 {
		r.Complete = false
		r.Errors = append(r.Errors, img.Errors...)
	}
	r.Warnings = append(r.Warnings, img.Warnings...)
	r.Image.OS = osrelease.Detect(img.Artifacts)
	r.Packages = append(r.Packages, img.Packages...)
	r.Findings = append(r.Findings, img.LayerFindings...)
	r.Findings = append(r.Findings, img.Findings...)
	bf, err := d.buildFindings(ctx, st)
	if err != nil {
		r.Warnings = append(r.Warnings, "build instructions not checked: "+err.Error())
	}
	r.Findings = append(r.Findings, bf...)

	db, err := advisory.Current(ctx, d.Store)
	switch {
	case errors.Is(err, advisory.ErrNoDB):
		r.Warnings = append(r.Warnings, "no advisory DB in the store: vulnerabilities were not checked (run 'layerscan db sync')")
		db = nil
	case err != nil:
		return nil, err
	default:
		r.AdvisoryDB.Version = db.Manifest.Version
		for _, s := range db.Manifest.Sources {
			if s.Note == "" {
				r.AdvisoryDB.Sources = append(r.AdvisoryDB.Sources, s.Name)
			}
		}
	}
	res, err := match.Match(ctx, db, r.Image.OS, img.Packages)
	if err != nil {
		return nil, err
	}
	r.Findings = append(r.Findings, res.Findings...)
	r.Coverage = res.Coverage
	for _, e := range res.Errors {
		r.Warnings = append(r.Warnings, "matching: "+e)
	}
	if r.Image.OS == nil && len(img.Packages) > 0 {
		r.Warnings = append(r.Warnings, "the operating system could not be detected")
	}
	// Layer paths are relative to the image root; users read them absolute.
	for i := range r.Packages {
		r.Packages[i].Path = absolute(r.Packages[i].Path)
	}
	for i := range r.Findings {
		r.Findings[i].Path = absolute(r.Findings[i].Path)
	}
	wl.Apply(r.Findings, whitelist.Repository(st.Ref))
	report.SortFindings(r.Findings)
	sort.SliceStable(r.Packages, func(i, j int) bool {
		if r.Packages[i].Path != r.Packages[j].Path {
			return r.Packages[i].Path < r.Packages[j].Path
		}
		return r.Packages[i].Name < r.Packages[j].Name
	})
	r.Summary = report.Summarize(r.Findings)

	if err := d.writeReport(ctx, st, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (d *Deps) writeReport(ctx context.Context, st State, r *report.Report) error {
	key := ReportKey(st.Digest, r.AdvisoryDB.Version)
	if err := store.PutJSON(ctx, d.Store, key, r); err != nil {
		return err
	}
	if err := store.PutJSON(ctx, d.Store, resultKey(st.ID), Result{ReportKey: key, Complete: r.Complete, Finished: d.now().Format(time.RFC3339)}); err != nil {
		return err
	}
	d.logf("scan %s: report %s (%d packages, %d findings)", st.ID, key, len(r.Packages), len(r.Findings))
	return nil
}

// reuseReport returns the stored report of this image when it was built from
// the same inputs, refreshed with this scan's reference, layer statuses and
// time; nil when it must be rebuilt.
func (d *Deps) reuseReport(ctx context.Context, st State, policy string) (*report.Report, error) {
	db, err := advisory.Current(ctx, d.Store)
	if err != nil {
		return nil, nil // BuildReport reports DB problems itself
	}
	var r report.Report
	if err := store.GetJSON(ctx, d.Store, ReportKey(st.Digest, db.Manifest.Version), &r); err != nil {
		return nil, nil
	}
	if st.Request.Dockerfile != "" || !r.Complete || r.Scanner.Policy != policy || r.Scanner.Logic != ReportLogic || r.Scanner.Version != Version || r.Scanner.AnalyzerSet != st.AnalyzerSet || len(r.Layers) != len(st.Layers) {
		return nil, nil
	}
	for i, l := range st.Layers {
		var m Marker
		if err := store.GetJSON(ctx, d.Store, doneKey(st.ID, l.DiffID), &m); err != nil || m.Status == "failed" || r.Layers[i].DiffID != l.DiffID {
			return nil, nil
		}
		r.Layers[i].Status = m.Status
	}
	r.Image.Ref = st.Ref
	r.CreatedAt = d.now().Format(time.RFC3339)
	return &r, d.writeReport(ctx, st, &r)
}

// LoadResult returns the report of a finished scan.
func (d *Deps) LoadResult(ctx context.Context, scanID string) (*report.Report, error) {
	var res Result
	if err := store.GetJSON(ctx, d.Store, resultKey(scanID), &res); err != nil {
		return nil, fmt.Errorf("scan %s has no report: %w", scanID, err)
	}
	var r report.Report
	if err := store.GetJSON(ctx, d.Store, res.ReportKey, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// buildFindings checks the build instructions: the Dockerfile's final
// stage when the request carries one, else the image history; and the
// image config (user, environment, health check) in both cases.
func (d *Deps) buildFindings(ctx context.Context, st State) ([]scan.Finding, error) {
	raw, err := d.Store.Get(ctx, configKey(st.Digest))
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	img := buildcheck.Image{
		User: cfg.Config.User, Env: cfg.Config.Env, Cmd: cfg.Config.Cmd, Entrypoint: cfg.Config.Entrypoint,
		Healthcheck: cfg.Config.Healthcheck != nil && len(cfg.Config.Healthcheck.Test) > 0 && cfg.Config.Healthcheck.Test[0] != "NONE",
	}
	for v := range cfg.Config.Volumes {
		img.Volumes = append(img.Volumes, v)
	}
	var instrs []buildcheck.Instruction
	if st.Request.Dockerfile != "" {
		all, err := buildcheck.ParseDockerfile([]byte(st.Request.Dockerfile))
		if err != nil {
			return nil, err
		}
		instrs = buildcheck.FinalStage(all)
	} else {
		diffIDs := make([]string, 0, len(st.Layers))
		for _, l := range st.Layers {
			diffIDs = append(diffIDs, l.DiffID)
		}
		hist := make([]buildcheck.HistoryEntry, 0, len(cfg.History))
		for _, h := range cfg.History {
			hist = append(hist, buildcheck.HistoryEntry{CreatedBy: h.CreatedBy, EmptyLayer: h.EmptyLayer})
		}
		instrs = buildcheck.FromHistory(hist, diffIDs)
	}
	return buildcheck.Check(instrs, img), nil
}

func absolute(p string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return "/" + p
}
