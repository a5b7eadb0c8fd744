// Package pipeline holds the scan steps as plain functions over the Store
// and Dispatcher ports: Plan, AnalyzeLayer and BuildReport. The CLI, the
// local server and every cloud function run these same steps.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/whitelist"
)

// Step names, as dispatched.
const (
	StepAnalyzeLayer = "analyze-layer"
	StepBuildReport  = "build-report"
)

// Version of layerscan, stamped into reports.
var Version = "0.1.0-dev"

// Deps wires the steps to their adapters.
type Deps struct {
	Store     store.Store
	Dispatch  dispatch.Dispatcher
	Analyzers *analyzer.Set
	Registry  registry.Options
	// Progress receives human progress lines; nil discards them.
	Progress io.Writer
	Now      func() time.Time
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Deps) logf(format string, args ...any) {
	if d.Progress != nil {
		fmt.Fprintf(d.Progress, format+"\n", args...)
	}
}

// ScanRequest asks for one image (every selected platform of it) to be scanned.
type ScanRequest struct {
	Source       registry.Source `json:"source"`
	Platform     string          `json:"platform,omitempty"`
	AllPlatforms bool            `json:"allPlatforms,omitempty"`
	// Trigger says what asked: cli, api, registry event, timer.
	Trigger string `json:"trigger,omitempty"`
	// Dockerfile is the text of the Dockerfile the image was built from, if
	// the caller has it; its final stage is checked instead of the history.
	Dockerfile string `json:"dockerfile,omitempty"`
	// Whitelist adds rules to the store's shared whitelist for this scan.
	Whitelist []whitelist.Rule `json:"whitelist,omitempty"`
}

// State is scans/<id>/state.json, written once by Plan.
type State struct {
	ID          string              `json:"id"`
	Created     string              `json:"created"`
	Request     ScanRequest         `json:"request"`
	Ref         string              `json:"ref"`
	Digest      string              `json:"digest"`
	Platform    string              `json:"platform"`
	AnalyzerSet string              `json:"analyzerSet"`
	Layers      []registry.LayerRef `json:"layers"`
	// Source is where the layers are read from (the image pinned by digest).
	Source registry.Source `json:"source"`
}

// Marker is scans/<id>/done/<diffID>, created once per finished layer.
type Marker struct {
	DiffID string `json:"diffID"`
	Digest string `json:"digest,omitempty"`
	// Status is analyzed, cached or failed.
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
	Finished string `json:"finished"`
}

// Result is scans/<id>/result.json, written by BuildReport.
type Result struct {
	ReportKey string `json:"reportKey"`
	Complete  bool   `json:"complete"`
	Finished  string `json:"finished"`
}

// LayerJob is the payload of analyze-layer.
type LayerJob struct {
	ScanID string            `json:"scanID"`
	Source registry.Source   `json:"source"`
	Layer  registry.LayerRef `json:"layer"`
	Set    string            `json:"analyzerSet"`
	_      struct{}          `json:"-"`
}

// ReportJob is the payload of build-report.
type ReportJob struct {
	ScanID string `json:"scanID"`
}

// Keys of the storage layout (DESIGN.md).
func factsKey(diffID, set string) string { return "layers/" + diffID + "/" + set + ".json.zst" }
func stateKey(id string) string          { return "scans/" + id + "/state.json" }
func doneKey(id, diffID string) string   { return "scans/" + id + "/done/" + diffID }
func claimKey(id string) string          { return "scans/" + id + "/claim" }
func resultKey(id string) string         { return "scans/" + id + "/result.json" }
func configKey(digest string) string     { return "images/" + digest + "/config.json" }

// ReportKey is where the report of an image against one DB version lives.
func ReportKey(digest, dbVersion string) string {
	if dbVersion == "" {
		dbVersion = "no-advisory-db"
	}
	return "reports/" + digest + "/" + dbVersion + ".json"
}

func newScanID(t time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return t.Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Plan resolves the request, records one scan per selected image, and
// dispatches analyze-layer for every layer whose facts are not cached yet.
// It returns the scan IDs.
func (d *Deps) Plan(ctx context.Context, req ScanRequest) ([]string, error) {
	opts := d.Registry
	if req.Platform != "" {
		opts.Platform = req.Platform
	}
	opts.AllPlatforms = req.AllPlatforms
	images, err := registry.Open(ctx, req.Source, opts)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, im := range images {
		id, err := d.planImage(ctx, req, im)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (d *Deps) planImage(ctx context.Context, req ScanRequest, im *registry.Image) (string, error) {
	now := d.now()
	st := State{
		ID: newScanID(now), Created: now.Format(time.RFC3339), Request: req,
		Ref: im.Ref, Digest: im.Digest, Platform: im.Platform, AnalyzerSet: d.Analyzers.Version(), Layers: im.Layers,
		Source: im.Source,
	}
	if err := d.Store.Put(ctx, configKey(im.Digest), im.RawConfig); err != nil {
		return "", err
	}
	if err := store.PutJSON(ctx, d.Store, stateKey(st.ID), st); err != nil {
		return "", err
	}
	d.logf("scan %s: %s (%s, %s), %d layers", st.ID, im.Ref, im.Digest, im.Platform, len(im.Layers))
	var pending []registry.LayerRef
	for _, l := range im.Layers {
		cached, err := d.Store.Exists(ctx, factsKey(l.DiffID, st.AnalyzerSet))
		if err != nil {
			return "", err
		}
		if !cached {
			pending = append(pending, l)
			continue
		}
		if err := d.mark(ctx, st.ID, Marker{DiffID: l.DiffID, Digest: l.Digest, Status: "cached"}); err != nil {
			return "", err
		}
		d.logf("layer %d %s: cached", l.Index, scan.ShortDigest(l.DiffID))
	}
	for _, l := range pending {
		job, _ := json.Marshal(LayerJob{ScanID: st.ID, Source: im.Source, Layer: l})
		if err := d.Dispatch.Dispatch(ctx, StepAnalyzeLayer, job); err != nil {
			return "", fmt.Errorf("dispatch layer %s: %w", l.DiffID, err)
		}
	}
	if len(pending) == 0 {
		if err := d.tryFinish(ctx, st); err != nil {
			return "", err
		}
	}
	return st.ID, nil
}

// loadState reads a scan's state; a missing one is ErrScanGone.
func (d *Deps) loadState(ctx context.Context, id string) (State, error) {
	var st State
	err := store.GetJSON(ctx, d.Store, stateKey(id), &st)
	if errors.Is(err, store.ErrNotFound) {
		return st, fmt.Errorf("scan %s: %w", id, ErrScanGone)
	}
	if err != nil {
		return st, fmt.Errorf("scan %s: %w", id, err)
	}
	return st, nil
}

func (d *Deps) mark(ctx context.Context, scanID string, m Marker) error {
	m.Finished = d.now().Format(time.RFC3339)
	_, err := store.PutJSONIfAbsent(ctx, d.Store, doneKey(scanID, m.DiffID), m)
	return err
}

// AnalyzeLayer analyses one layer blob, stores its facts under its diffID,
// marks it done, and, when it is the last layer of the scan, claims and
// dispatches build-report. Duplicate deliveries are harmless.
func (d *Deps) AnalyzeLayer(ctx context.Context, job LayerJob) error {
	st, err := d.loadState(ctx, job.ScanID)
	if err != nil {
		return err
	}
	// Facts are filed under the version of the set that produced them; a
	// worker running another build must not file its facts under this scan's.
	if v := d.Analyzers.Version(); v != st.AnalyzerSet {
		return fmt.Errorf("scan %s was planned for analyzer set %s, this worker runs %s", st.ID, st.AnalyzerSet, v)
	}
	l := job.Layer
	key := factsKey(l.DiffID, st.AnalyzerSet)
	m := Marker{DiffID: l.DiffID, Digest: l.Digest}
	cached, err := d.Store.Exists(ctx, key)
	if err != nil {
		return err
	}
	if cached {
		m.Status = "cached"
	} else {
		start := d.now()
		facts, err := d.analyze(ctx, job.Source, l)
		if err != nil {
			m.Status, m.Error = "failed", err.Error()
			d.logf("layer %d %s: FAILED: %v", l.Index, scan.ShortDigest(l.DiffID), err)
		} else {
			if _, err := store.PutJSONIfAbsent(ctx, d.Store, key, facts); err != nil {
				return err
			}
			m.Status = "analyzed"
			if m.Digest == "" {
				m.Digest = facts.Digest
			}
			d.logf("layer %d %s: analyzed %d entries, %d MB in %s", l.Index, scan.ShortDigest(l.DiffID), facts.Stats.Entries, facts.Stats.UncompressedBytes>>20, d.now().Sub(start).Round(time.Millisecond))
		}
	}
	if err := d.mark(ctx, job.ScanID, m); err != nil {
		return err
	}
	return d.tryFinish(ctx, st)
}

func (d *Deps) analyze(ctx context.Context, src registry.Source, l registry.LayerRef) (*scan.LayerFacts, error) {
	rc, err := registry.OpenBlob(ctx, src, l.Digest, l.DiffID, d.Registry)
	if err != nil {
		return nil, fmt.Errorf("open layer blob: %w", err)
	}
	defer rc.Close()
	return d.Analyzers.Analyze(ctx, rc, l.Digest, l.DiffID)
}

// tryFinish is the fan-in latch: once every layer has its marker, the one
// caller that creates the claim dispatches build-report.
func (d *Deps) tryFinish(ctx context.Context, st State) error {
	done, err := d.Store.List(ctx, "scans/"+st.ID+"/done/")
	if err != nil {
		return err
	}
	if len(done) < len(uniqueDiffIDs(st.Layers)) {
		return nil
	}
	won, err := d.Store.PutIfAbsent(ctx, claimKey(st.ID), []byte(d.now().Format(time.RFC3339)))
	if err != nil || !won {
		return err
	}
	job, _ := json.Marshal(ReportJob{ScanID: st.ID})
	return d.Dispatch.Dispatch(ctx, StepBuildReport, job)
}

// uniqueDiffIDs counts layers by diffID: an image may repeat a layer.
func uniqueDiffIDs(ls []registry.LayerRef) map[string]bool {
	m := map[string]bool{}
	for _, l := range ls {
		m[l.DiffID] = true
	}
	return m
}
