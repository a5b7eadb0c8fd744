package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/analyzer/osrelease"
	"github.com/layerscan/layerscan/shared/buildcheck"
	"github.com/layerscan/layerscan/shared/changes"
	"github.com/layerscan/layerscan/shared/checks"
	"github.com/layerscan/layerscan/shared/match"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/squash"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
	"github.com/layerscan/layerscan/shared/vex"
	"github.com/layerscan/layerscan/shared/whitelist"
)

// ReportLogic must be bumped whenever the report built from the same layer
// facts and advisory DB may change (squash, matching or report rules): it
// decides whether a stored report may be reused.
const ReportLogic = 7

// reportInputs is what one report is built from.
type reportInputs struct {
	st       scanrecord.State
	wl       whitelist.List
	checks   checks.Selection
	settings settings.Settings // checks come from it; Reported is given it
	vex      []vex.Statement
	db       *advisory.DB // nil: none published
	markers  map[string]scanrecord.Marker
}

// policy identifies the whitelist and check selection a report is built
// under.
func (in *reportInputs) policy() string {
	var parts []string
	for _, p := range []string{in.wl.Fingerprint(), in.checks.Fingerprint(), vex.Fingerprint(in.vex)} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "+")
}

// BuildReport squashes the layer facts of a scan, detects the OS, matches
// packages against the current advisory DB and writes the report. It reads
// layer facts only, so re-matching after a DB update downloads no layer.
// When a complete report of the same image already exists for the same
// advisory DB, analyzer set and report logic, it is reused: its inputs are
// immutable, so rebuilding it would give the same findings.
func (d *Steps) BuildReport(ctx context.Context, job ReportJob) (*report.Report, error) {
	in, err := d.loadInputs(ctx, job.ScanID, nil, false)
	if err != nil {
		return nil, err
	}
	if r := d.reusable(ctx, in); r != nil {
		return r, d.writeReport(ctx, in, r, in.st.Request.Task, false)
	}
	r := d.newReport(in)
	img := d.assemble(ctx, in, r)
	if err := d.matchPackages(ctx, in, img, r); err != nil {
		return nil, err
	}
	finalize(in, r)
	return r, d.writeReport(ctx, in, r, in.st.Request.Task, false)
}

// storePolicy reads the whitelist, check selection and VEX statements of
// the store, which every report is built under (a scan's request may add
// to them).
func (d *Steps) storePolicy(ctx context.Context) (*reportInputs, error) {
	wl, err := whitelist.Load(ctx, d.Store)
	if err != nil {
		return nil, fmt.Errorf("whitelist: %w", err)
	}
	set, err := settings.Load(ctx, d.Store)
	if err != nil {
		return nil, err
	}
	stmts, err := vex.Load(ctx, d.Store)
	if err != nil {
		return nil, fmt.Errorf("VEX: %w", err)
	}
	return &reportInputs{wl: wl, checks: set.Checks, vex: stmts, settings: set}, nil
}

// Policy identifies the store's whitelist, check selection and VEX as a
// report built now records it (report.Scanner.Policy, Latest.Policy): a
// stored report under another one is out of date.
func (d *Steps) Policy(ctx context.Context) (string, error) {
	in, err := d.storePolicy(ctx)
	if err != nil {
		return "", err
	}
	return in.policy(), nil
}

// loadInputs reads the scan's state, advisory DB and markers, each once,
// under the store's policy: pol when the caller read it already (once for
// a re-match batch), else read now. A re-match reads the markers from the
// scan's result.
func (d *Steps) loadInputs(ctx context.Context, scanID string, pol *reportInputs, rematch bool) (*reportInputs, error) {
	st, err := scanrecord.LoadState(ctx, d.Store, scanID)
	if err != nil {
		return nil, err
	}
	if pol == nil {
		if pol, err = d.storePolicy(ctx); err != nil {
			return nil, err
		}
	}
	// A copy: the scan's own rules and statements are added to it.
	in := &reportInputs{wl: pol.wl, checks: pol.checks, settings: pol.settings, st: st, markers: map[string]scanrecord.Marker{}}
	in.wl.Rules = append(slices.Clone(pol.wl.Rules), st.Request.Whitelist...)
	in.vex = append(slices.Clone(pol.vex), st.Request.VEX...)
	switch db, err := advisory.Current(ctx, d.Store); {
	case errors.Is(err, advisory.ErrNoDB):
	case err != nil:
		return nil, err
	default:
		in.db = db
	}
	if rematch {
		// The markers as the scan's first report read them, kept with its
		// result: one read instead of one per layer. Markers are final
		// once the scan has a result.
		res, ok, err := scanrecord.LoadResult(ctx, d.Store, st.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range res.Layers {
			in.markers[m.DiffID] = m
		}
		if ok && len(in.markers) == len(st.DiffIDs()) {
			return in, nil
		}
		clear(in.markers) // a result written before it kept them: read them
	}
	for diffID := range st.DiffIDs() {
		m, ok, err := scanrecord.LoadMarker(ctx, d.Store, st.ID, diffID)
		if err != nil {
			return nil, err
		}
		if ok {
			in.markers[diffID] = m
		}
	}
	return in, nil
}

func (d *Steps) newReport(in *reportInputs) *report.Report {
	r := &report.Report{
		Schema:    report.Schema,
		Image:     report.Image{Ref: in.st.Ref, Digest: in.st.Digest, Platform: in.st.Platform},
		Complete:  true,
		Errors:    []string{},
		Packages:  []scan.Package{},
		Findings:  []scan.Finding{},
		Scanner:   report.Scanner{Version: Version, AnalyzerSet: in.st.AnalyzerSet, Logic: ReportLogic, Policy: in.policy()},
		CreatedAt: d.now().Format(time.RFC3339),
	}
	if in.db == nil {
		r.Warnings = append(r.Warnings, "no advisory DB in the store: vulnerabilities were not checked (run 'layerscan db sync')")
		return r
	}
	r.AdvisoryDB.Version = in.db.Manifest.Version
	for _, s := range in.db.Manifest.Sources {
		if s.Note == "" {
			r.AdvisoryDB.Sources = append(r.AdvisoryDB.Sources, s.Name)
		}
	}
	return r
}

// assemble reads every layer's facts, records each layer's status, and
// squashes the facts into the image view: packages and file findings.
func (d *Steps) assemble(ctx context.Context, in *reportInputs, r *report.Report) *squash.Image {
	facts := make([]*scan.LayerFacts, 0, len(in.st.Layers))
	for _, l := range in.st.Layers {
		rl := report.Layer{Index: l.Index, Digest: l.Digest, DiffID: l.DiffID, CreatedBy: l.CreatedBy}
		if m, ok := in.markers[l.DiffID]; ok {
			rl.Status, rl.Error = m.Status, m.Error
		} else {
			rl.Status, rl.Error = scanrecord.Failed, "layer was never analysed"
		}
		if rl.Status != scanrecord.Failed {
			var lf scan.LayerFacts
			if err := store.GetJSON(ctx, d.Store, storekey.Facts(l.DiffID, in.st.AnalyzerSet), &lf); err != nil {
				rl.Status, rl.Error = scanrecord.Failed, "layer facts unreadable: "+err.Error()
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
		if rl.Status == scanrecord.Failed {
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
	bf, err := d.buildFindings(ctx, in.st)
	if err != nil {
		r.Warnings = append(r.Warnings, "build instructions not checked: "+err.Error())
	}
	r.Findings = append(r.Findings, bf...)
	return img
}

// matchPackages matches the image's packages against the advisory DB.
func (d *Steps) matchPackages(ctx context.Context, in *reportInputs, img *squash.Image, r *report.Report) error {
	res, err := match.Match(ctx, in.db, r.Image.OS, img.Packages)
	if err != nil {
		return err
	}
	r.Findings = append(r.Findings, res.Findings...)
	r.Coverage = res.Coverage
	for _, e := range res.Errors {
		r.Warnings = append(r.Warnings, "matching: "+e)
	}
	if r.Image.OS == nil && len(img.Packages) > 0 {
		r.Warnings = append(r.Warnings, "the operating system could not be detected")
	}
	return nil
}

// finalize makes paths absolute, applies the whitelist, sorts and sums up.
func finalize(in *reportInputs, r *report.Report) {
	// Layer paths are relative to the image root; users read them absolute.
	for i := range r.Packages {
		r.Packages[i].Path = absolute(r.Packages[i].Path)
	}
	for i := range r.Findings {
		r.Findings[i].Path = absolute(r.Findings[i].Path)
	}
	r.Findings = in.checks.Filter(r.Findings)
	in.wl.Apply(r.Findings, whitelist.Target{Ref: in.st.Ref, Tag: in.st.Request.Tag, Digest: in.st.Digest})
	purls := map[string]string{}
	for _, p := range r.Packages {
		purls[p.Type+"/"+p.Name+"@"+p.Version+"#"+p.Path] = p.PURL
	}
	vex.Apply(in.vex, vex.Target{Digest: in.st.Digest, Ref: in.st.Ref}, r.Findings, func(f scan.Finding) string {
		return purls[f.Package.Type+"/"+f.Package.Name+"@"+f.Package.Version+"#"+f.Path]
	})
	report.SortFindings(r.Findings)
	r.Summary = report.Summarize(r.Findings)
	r.Findings = capPerCheck(r.Findings, &r.Warnings)
	sort.SliceStable(r.Packages, func(i, j int) bool {
		if r.Packages[i].Path != r.Packages[j].Path {
			return r.Packages[i].Path < r.Packages[j].Path
		}
		return r.Packages[i].Name < r.Packages[j].Name
	})
}

// MaxFindingsPerCheck caps the findings of one check listed in a report
// (the summary counts them all): layers are capped one by one, and five
// hundred layers of capped findings are still a report nobody can read or
// store cheaply.
const MaxFindingsPerCheck = 1000

func capPerCheck(fs []scan.Finding, warnings *[]string) []scan.Finding {
	seen := map[string]int{}
	out := fs[:0]
	for _, f := range fs {
		seen[f.ID]++
		if seen[f.ID] <= MaxFindingsPerCheck {
			out = append(out, f)
		}
	}
	ids := make([]string, 0, len(seen))
	for id, n := range seen {
		if n > MaxFindingsPerCheck {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		*warnings = append(*warnings, fmt.Sprintf("%d more %s findings are counted in the summary but not listed", seen[id]-MaxFindingsPerCheck, id))
	}
	return out
}

// reportKey is where a scan's report goes: the image's shared report, or,
// when the request brought inputs of its own (a Dockerfile, whitelist
// rules), a variant keyed by them.
func reportKey(st scanrecord.State, dbVersion string) string {
	if st.Request.Dockerfile == "" && len(st.Request.Whitelist) == 0 && len(st.Request.VEX) == 0 {
		return storekey.Report(st.Digest, dbVersion)
	}
	wl, _ := json.Marshal(st.Request.Whitelist)
	sum := sha256.Sum256([]byte(st.Request.Dockerfile + "\x00" + string(wl) + "\x00" + vex.Fingerprint(st.Request.VEX)))
	return storekey.ReportVariant(st.Digest, dbVersion, "request-"+hex.EncodeToString(sum[:8]))
}

// Latest is storekey.ImageLatest: the latest shared report of an image.
type Latest struct {
	ScanID    string `json:"scanID"`
	Ref       string `json:"ref"`
	Tag       string `json:"tag,omitempty"`
	ReportKey string `json:"reportKey"`
	DBVersion string `json:"dbVersion"`
	Policy    string `json:"policy,omitempty"`
	Complete  bool   `json:"complete"`
	Created   string `json:"created"`
}

// LoadLatest reads an image's latest pointer; ok is false for none.
func LoadLatest(ctx context.Context, st store.Store, digest string) (l Latest, ok bool, err error) {
	err = store.GetJSON(ctx, st, storekey.ImageLatest(digest), &l)
	if errors.Is(err, store.ErrNotFound) {
		return l, false, nil
	}
	return l, err == nil, err
}

// writeReport stores a scan's report and what follows from it: the scan's
// result (unless a re-match rebuilt an older scan's report), the image's
// latest pointer and its change against the previous shared report, and
// the entry of the task the report was built for.
func (d *Steps) writeReport(ctx context.Context, in *reportInputs, r *report.Report, t *scanrecord.TaskRef, rematch bool) error {
	st := in.st
	key := reportKey(st, r.AdvisoryDB.Version)
	shared := key == storekey.Report(st.Digest, r.AdvisoryDB.Version)
	var change *changes.Change
	if shared {
		// Read before the write: a re-report under the same DB version
		// replaces the object the previous pointer names.
		if prev, ok, err := LoadLatest(ctx, d.Store, st.Digest); err == nil && ok && (prev.DBVersion != r.AdvisoryDB.Version || prev.Policy != r.Scanner.Policy) {
			var old report.Report
			if store.GetJSON(ctx, d.Store, prev.ReportKey, &old) == nil {
				change = changes.Diff(&old, r, d.now())
			}
		}
	}
	// Streamed: a report of thousands of findings is not marshalled whole
	// beside the report itself.
	if err := store.PutEncoded(ctx, d.Store, key, func(w io.Writer) error { return json.NewEncoder(w).Encode(r) }); err != nil {
		return err
	}
	now := d.now().Format(time.RFC3339)
	if !rematch {
		res := scanrecord.Result{ReportKey: key, Complete: r.Complete, Finished: now}
		for _, l := range st.Layers {
			if m, ok := in.markers[l.DiffID]; ok {
				res.Layers = append(res.Layers, m)
			}
		}
		if err := store.PutJSON(ctx, d.Store, storekey.Result(st.ID), res); err != nil {
			return err
		}
	}
	if shared {
		if change != nil && !change.Empty() {
			if err := changes.Record(ctx, d.Store, change); err != nil {
				return err
			}
		}
		l := Latest{ScanID: st.ID, Ref: st.Ref, Tag: st.Request.Tag, ReportKey: key, DBVersion: r.AdvisoryDB.Version, Policy: r.Scanner.Policy, Complete: r.Complete, Created: now}
		if err := store.PutJSON(ctx, d.Store, storekey.ImageLatest(st.Digest), l); err != nil {
			return err
		}
	}
	d.logf("scan %s: report %s (%d packages, %d findings)", st.ID, key, len(r.Packages), len(r.Findings))
	if t != nil {
		if err := task.Finished(ctx, d.Store, t.ID, t.Item, task.ScanResult{ScanID: st.ID, Complete: r.Complete, ReportKey: key, Errors: r.Errors, At: now}); err != nil {
			return err
		}
	}
	if d.Reported != nil {
		if change != nil && change.Empty() {
			change = nil
		}
		d.Reported(ctx, Written{Report: r, Change: change, Task: t, ScanID: st.ID, Rematch: rematch, Settings: in.settings})
	}
	return nil
}

// Written is a report just written, as Steps.Reported is told of it.
type Written struct {
	Report *report.Report
	// Change is what changed against the image's previous shared report;
	// nil for none or no previous one.
	Change *changes.Change
	Task   *scanrecord.TaskRef
	ScanID string
	// Rematch says a re-match rebuilt the report of an earlier scan.
	Rematch bool
	// Settings are those the report was built under, read once for it (or
	// once for a re-match batch), so that its listener need not read them
	// again.
	Settings settings.Settings
}

// RematchItem is one image of a re-match: the scan whose facts it reuses.
type RematchItem struct {
	Item   int    `json:"item"`
	ScanID string `json:"scanID"`
}

// Rematch re-reports a batch of a re-match task's images from their
// stored facts against the current advisory DB. No layer is read. The
// images are re-reported rematchWorkers at a time: each is a chain of
// small store round trips (facts, report, pointers, the task's record),
// which one image after another would make a batch's wall time fifty
// chains long.
//
// The store's policy is read once for the batch: every image of it is
// re-reported under the same whitelist, checks and VEX (a change of them
// starts another re-match).
func (d *Steps) Rematch(ctx context.Context, taskID string, items []RematchItem) error {
	pol, err := d.storePolicy(ctx)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(rematchWorkers)
	for _, it := range items {
		g.Go(func() error { return d.rematchOne(ctx, taskID, it, pol) })
	}
	return g.Wait()
}

// rematchWorkers bounds the images of one batch re-reported at once.
const rematchWorkers = 8

// rematchOne re-reports one image of a re-match task. The item is planned
// by the task document (task.Item.Scan), so only its result is written.
func (d *Steps) rematchOne(ctx context.Context, taskID string, it RematchItem, pol *reportInputs) error {
	ref := &scanrecord.TaskRef{ID: taskID, Item: it.Item}
	in, err := d.loadInputs(ctx, it.ScanID, pol, true)
	if errors.Is(err, scanrecord.ErrScanGone) {
		return task.Finished(ctx, d.Store, taskID, it.Item, task.ScanResult{ScanID: it.ScanID, Errors: []string{err.Error()}, At: d.now().Format(time.RFC3339)})
	}
	if err != nil {
		return err
	}
	r := d.reusable(ctx, in)
	if r == nil {
		r = d.newReport(in)
		img := d.assemble(ctx, in, r)
		if err := d.matchPackages(ctx, in, img, r); err != nil {
			return err
		}
		finalize(in, r)
	}
	return d.writeReport(ctx, in, r, ref, true)
}

// reusable returns the stored report of this image when it was built from
// the same inputs, refreshed with this scan's reference, layer statuses and
// time; nil when it must be rebuilt.
func (d *Steps) reusable(ctx context.Context, in *reportInputs) *report.Report {
	st := in.st
	if in.db == nil || st.Request.Dockerfile != "" || slices.ContainsFunc(in.wl.Rules, func(r whitelist.Rule) bool { return len(r.Images) > 0 }) {
		return nil // rules scoped to a tag mark the same digest differently per tag
	}
	var r report.Report
	if err := store.GetJSON(ctx, d.Store, reportKey(st, in.db.Manifest.Version), &r); err != nil {
		return nil
	}
	if !r.Complete || r.Scanner.Policy != in.policy() || r.Scanner.Logic != ReportLogic || r.Scanner.Version != Version || r.Scanner.AnalyzerSet != st.AnalyzerSet || len(r.Layers) != len(st.Layers) {
		return nil
	}
	for i, l := range st.Layers {
		m, ok := in.markers[l.DiffID]
		if !ok || m.Status == scanrecord.Failed || r.Layers[i].DiffID != l.DiffID {
			return nil
		}
		r.Layers[i].Status = m.Status
	}
	r.Image.Ref = st.Ref
	r.CreatedAt = d.now().Format(time.RFC3339)
	return &r
}

// buildFindings checks the build instructions: the Dockerfile's final
// stage when the request carries one, else the image history; and the
// image config (user, environment, health check) in both cases.
func (d *Steps) buildFindings(ctx context.Context, st scanrecord.State) ([]scan.Finding, error) {
	raw, err := d.Store.Get(ctx, storekey.ImageConfig(st.Digest))
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
