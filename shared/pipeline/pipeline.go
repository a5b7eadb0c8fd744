// Package pipeline holds the scan steps as plain functions over the ports
// (store.Store, dispatch.Dispatcher, source.Opener): Plan (scan-image),
// AnalyzeLayer and BuildReport. The CLI, the local server and every cloud
// function run these same steps; what each step records is
// shared/scanrecord, where it records it shared/storekey.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/buildcheck"
	"github.com/layerscan/layerscan/shared/digest"
	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
)

// Step names, as dispatched; each is a function of the suite.
const (
	StepScanImage    = "scan-image"
	StepAnalyzeLayer = "analyze-layer"
	StepBuildReport  = "build-report"
)

// MaxLayers caps the layers of one image: Docker and containerd refuse
// more than 125 or so, OCI images have at most a few hundred, and every
// layer is a job.
const MaxLayers = 500

// Version of layerscan, stamped into reports.
var Version = "0.1.0-dev"

// Steps wires the steps to their adapters.
type Steps struct {
	Store    store.Store
	Dispatch dispatch.Dispatcher
	// Analyzers is needed by Plan (its version keys layer facts) and
	// AnalyzeLayer; BuildReport does without.
	Analyzers *analyzer.Set
	// Sources opens image sources of every kind a request may name.
	Sources source.Opener
	// Registry options (credentials, transport) for every source opened.
	Registry []source.Option
	// Progress receives human progress lines; nil discards them.
	Progress io.Writer
	// Sealer seals credentials lent for one scan into its layer jobs; nil
	// keeps them out of the jobs (layers are pulled with the connection's
	// login).
	Sealer Sealer
	// Reported, when set, is told of every report written (notifications
	// hang off it).
	Reported func(ctx context.Context, w Written)
	// Extra are steps beyond the scan's that the same dispatchers carry
	// (fix-image, which the suite runs).
	Extra dispatch.Handlers
	// VisibilityWaits are the pauses before a job object that a
	// notification announced, but that cannot be read, is taken as run by
	// an earlier delivery. OSS, S3 and MinIO read a new object after its
	// notification, so there are none by default: every duplicate delivery
	// would pay them. For a store whose reads lag its notifications (a
	// replica), LAYERSCAN_QUEUE_VISIBILITY_WAIT sets them; a lag beyond
	// them, like a lost job, leaves the scan to the janitor's re-drive.
	VisibilityWaits []time.Duration
	Now             func() time.Time
}

func (d *Steps) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Steps) logf(format string, args ...any) {
	if d.Progress != nil {
		fmt.Fprintf(d.Progress, format+"\n", args...)
	}
}

// Sealer encrypts and decrypts credentials carried by jobs.
type Sealer interface {
	Seal(plain string) (string, error)
	Open(sealed string) (string, error)
}

// ScanJob is the job of scan-image: plan the request.
type ScanJob struct{ scanrecord.Request }

// Step implements dispatch.Job.
func (ScanJob) Step() string { return StepScanImage }

// LayerJob is the job of analyze-layer. It carries what the layer's
// worker needs of the scan, so that no worker re-reads the scan's state
// (which grows with the layers: reading it per layer made large images
// quadratic).
type LayerJob struct {
	ScanID string           `json:"scanID"`
	Source source.Ref       `json:"source"`
	Layer  scanrecord.Layer `json:"layer"`
	// AnalyzerSet the scan was planned for; Layers its distinct layers.
	AnalyzerSet string `json:"analyzerSet,omitempty"`
	Layers      int    `json:"layers,omitempty"`
	// PullAuth is an Authorization value a caller lent for this scan's
	// pulls (Harbor's), sealed by Steps.Sealer: job objects sit in the
	// store until consumed, and the scan's state never holds it.
	PullAuth string `json:"pullAuth,omitempty"`
}

// layerJob is the job of one layer of a scan.
func layerJob(st scanrecord.State, l scanrecord.Layer) LayerJob {
	return LayerJob{ScanID: st.ID, Source: st.Source, Layer: l, AnalyzerSet: st.AnalyzerSet, Layers: len(st.DiffIDs())}
}

// Step implements dispatch.Job.
func (LayerJob) Step() string { return StepAnalyzeLayer }

// ReportJob is the job of build-report: one scan's report, or a batch of
// a re-match task (the same function: both build reports from facts).
type ReportJob struct {
	ScanID  string        `json:"scanID,omitempty"`
	Rematch *RematchBatch `json:"rematch,omitempty"`
}

// RematchBatch is one batch of a re-match task.
type RematchBatch struct {
	Task  string        `json:"task"`
	Items []RematchItem `json:"items"`
}

// Step implements dispatch.Job.
func (ReportJob) Step() string { return StepBuildReport }

// Handlers are the steps as the dispatchers deliver them.
func (d *Steps) Handlers() dispatch.Handlers {
	h := d.scanHandlers()
	for step, fn := range d.Extra {
		h[step] = fn
	}
	return h
}

func (d *Steps) scanHandlers() dispatch.Handlers {
	return dispatch.Handlers{
		StepScanImage: dispatch.Typed(func(ctx context.Context, j ScanJob) error {
			_, err := d.Plan(ctx, j.Request)
			return err
		}),
		StepAnalyzeLayer: dispatch.Typed(d.AnalyzeLayer),
		StepBuildReport: dispatch.Typed(func(ctx context.Context, j ReportJob) error {
			if j.Rematch != nil {
				return d.Rematch(ctx, j.Rematch.Task, j.Rematch.Items)
			}
			_, err := d.BuildReport(ctx, j)
			return err
		}),
	}
}

// Submit queues a scan of req: scan-image plans it where the fan-out runs.
func (d *Steps) Submit(ctx context.Context, req scanrecord.Request) error {
	return dispatch.Enqueue(ctx, d.Dispatch, ScanJob{req})
}

func (d *Steps) options(req scanrecord.Request) source.Options {
	o := source.Apply(d.Registry...)
	if req.Platform != "" {
		o.Platform = req.Platform
	}
	o.AllPlatforms = req.AllPlatforms
	return o
}

// newScanID names a scan: random first, so that the scans/ keys of a
// fleet scan spread over the store's index partitions instead of
// following the clock (see storekey.Job), then the time for people.
func newScanID(t time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-" + t.UTC().Format("20060102T150405Z")
}

// Plan resolves the request, records one scan per selected image, and
// dispatches analyze-layer for every layer whose facts are not cached yet.
// It returns the scan IDs. A request of a task records in the task's log
// what it planned, or why it could not.
func (d *Steps) Plan(ctx context.Context, req scanrecord.Request) ([]string, error) {
	return d.PlanWith(ctx, req, "")
}

// PlanWith is Plan with an Authorization value a caller lent for this
// scan's pulls (Harbor's): used for the manifest and config now, and
// sealed into the layer jobs when a Sealer is wired; never in the scan's
// records.
func (d *Steps) PlanWith(ctx context.Context, req scanrecord.Request, authorization string) ([]string, error) {
	var extra []source.Option
	sealed := ""
	if authorization != "" {
		extra = append(extra, source.WithAuth(source.AuthorizationKeychain(authorization)))
		if d.Sealer != nil {
			var err error
			if sealed, err = d.Sealer.Seal(authorization); err != nil {
				sealed = "" // no key to seal with: the connection's login pulls the layers
			}
		}
	}
	ids, top, digests, err := d.plan(ctx, req, sealed, extra...)
	if req.Task != nil {
		switch {
		case err == nil:
			err = task.Planned(ctx, d.Store, req.Task.ID, req.Task.Item, ids, d.now())
		case !errors.Is(err, analyzer.ErrTransient) && ctx.Err() == nil:
			if lerr := task.PlanFailed(ctx, d.Store, req.Task.ID, req.Task.Item, err, d.now()); lerr != nil {
				d.logf("task %s: %v", req.Task.ID, lerr)
			}
		}
	}
	if err == nil && len(ids) > 0 {
		err = d.pointTag(ctx, req, top, ids)
	}
	if err == nil && len(digests) > 0 && (len(digests) > 1 || digests[0] != top) {
		err = store.PutJSON(ctx, d.Store, storekey.ImageIndex(top), digests)
	}
	return ids, err
}

// plan plans each selected image; it returns the scan IDs, the digest of
// what was opened (an index's, for a multi-platform image) and the digests
// of the images planned.
func (d *Steps) plan(ctx context.Context, req scanrecord.Request, pullAuth string, extra ...source.Option) (ids []string, top string, digests []string, err error) {
	o := d.options(req)
	for _, opt := range extra {
		opt(&o)
	}
	a, err := d.Sources.Open(ctx, req.Source, o)
	if err != nil {
		return nil, "", nil, err
	}
	images, err := source.Select(a, o)
	if err != nil {
		return nil, "", nil, err
	}
	for _, im := range images {
		st, raw, err := d.describe(req, im)
		if err != nil {
			return ids, "", nil, err
		}
		if err := d.planImage(ctx, st, raw, pullAuth); err != nil {
			return ids, "", nil, err
		}
		ids = append(ids, st.ID)
		digests = append(digests, st.Digest)
	}
	return ids, a.Digest.String(), digests, nil
}

// TagScan is storekey.TagScan: the latest scan of a registry tag.
type TagScan struct {
	Digest  string   `json:"digest"`
	ScanIDs []string `json:"scanIDs"`
	Planned string   `json:"planned"`
}

// pointTag records the scans of a registry image under its tag, for the
// tag's scan status.
func (d *Steps) pointTag(ctx context.Context, req scanrecord.Request, top string, ids []string) error {
	if req.Source.Kind != source.KindRegistry {
		return nil
	}
	ref, err := name.ParseReference(req.Source.Location)
	if err != nil {
		return nil
	}
	tag := req.Tag
	if t, ok := ref.(name.Tag); ok && tag == "" {
		tag = t.TagStr()
	}
	if tag == "" {
		return nil
	}
	key := storekey.TagScan(ref.Context().RegistryStr(), ref.Context().RepositoryStr(), tag)
	return store.PutJSON(ctx, d.Store, key, TagScan{Digest: top, ScanIDs: ids, Planned: d.now().Format(time.RFC3339)})
}

// describe makes the state of one image's scan from its manifest and config.
func (d *Steps) describe(req scanrecord.Request, im source.Selected) (scanrecord.State, []byte, error) {
	now := d.now()
	st := scanrecord.State{
		ID: newScanID(now), Created: now.Format(time.RFC3339), Request: req,
		Ref: im.Name, Digest: im.Digest.String(), AnalyzerSet: d.Analyzers.Version(), Source: req.Source,
	}
	m, err := im.Image.Manifest()
	if err != nil {
		return st, nil, fmt.Errorf("%s: manifest: %w", im.Name, err)
	}
	if m.Config.Size > source.MaxConfigBytes {
		return st, nil, fmt.Errorf("%s: the image config is %d bytes, over the %d-byte cap", im.Name, m.Config.Size, source.MaxConfigBytes)
	}
	if len(m.Layers) > MaxLayers {
		return st, nil, fmt.Errorf("%s: %d layers, over the %d an image may have here (OCI images have at most a few hundred)", im.Name, len(m.Layers), MaxLayers)
	}
	raw, err := im.Image.RawConfigFile()
	if err != nil {
		return st, nil, fmt.Errorf("%s: config: %w", im.Name, err)
	}
	if len(raw) > source.MaxConfigBytes {
		return st, nil, fmt.Errorf("%s: the image config is %d bytes, over the %d-byte cap", im.Name, len(raw), source.MaxConfigBytes)
	}
	cfg, err := im.Image.ConfigFile()
	if err != nil {
		return st, nil, fmt.Errorf("%s: config: %w", im.Name, err)
	}
	if len(m.Layers) != len(cfg.RootFS.DiffIDs) {
		return st, nil, fmt.Errorf("%s: manifest lists %d layers but the config %d diffIDs", im.Name, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	st.Platform = platformOf(cfg)
	created := createdBy(cfg)
	for i, l := range m.Layers {
		st.Layers = append(st.Layers, scanrecord.Layer{
			Index: i, Digest: l.Digest.String(), DiffID: cfg.RootFS.DiffIDs[i].String(),
			MediaType: string(l.MediaType), Size: l.Size, CreatedBy: buildcheck.MaskLine(at(created, i)),
		})
	}
	return st, raw, nil
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// createdBy lists the history line of each non-empty layer in order.
func createdBy(cfg *v1.ConfigFile) []string {
	var out []string
	for _, h := range cfg.History {
		if !h.EmptyLayer {
			out = append(out, h.CreatedBy)
		}
	}
	return out
}

func platformOf(cfg *v1.ConfigFile) string {
	p := cfg.OS + "/" + cfg.Architecture
	if cfg.Variant != "" {
		p += "/" + cfg.Variant
	}
	return p
}

func (d *Steps) planImage(ctx context.Context, st scanrecord.State, rawConfig []byte, pullAuth string) error {
	// The config is kept for build-instruction checks, with its secrets
	// masked: the store is read by more than whoever pulled the image.
	redacted, err := buildcheck.RedactConfig(rawConfig)
	if err != nil {
		return fmt.Errorf("%s: config: %w", st.Ref, err)
	}
	if err := d.Store.Put(ctx, storekey.ImageConfig(st.Digest), redacted); err != nil {
		return err
	}
	if err := store.PutJSON(ctx, d.Store, storekey.ScanState(st.ID), st); err != nil {
		return err
	}
	d.logf("scan %s: %s (%s, %s), %d layers", st.ID, st.Ref, st.Digest, st.Platform, len(st.Layers))
	var pending []scanrecord.Layer
	for _, l := range st.Layers {
		cached, err := d.Store.Exists(ctx, storekey.Facts(l.DiffID, st.AnalyzerSet))
		if err != nil {
			return err
		}
		if !cached {
			pending = append(pending, l)
			continue
		}
		if err := d.mark(ctx, st.ID, scanrecord.Marker{DiffID: l.DiffID, Digest: l.Digest, Status: scanrecord.Cached}); err != nil {
			return err
		}
		d.logf("layer %d %s: cached", l.Index, digest.Short(l.DiffID))
	}
	for _, l := range pending {
		j := layerJob(st, l)
		j.PullAuth = pullAuth
		if err := dispatch.Enqueue(ctx, d.Dispatch, j); err != nil {
			return fmt.Errorf("layer %s: %w", l.DiffID, err)
		}
	}
	if len(pending) == 0 {
		return d.tryFinish(ctx, st.ID, len(st.DiffIDs()))
	}
	return nil
}

func (d *Steps) mark(ctx context.Context, scanID string, m scanrecord.Marker) error {
	m.Finished = d.now().Format(time.RFC3339)
	_, err := store.PutJSONIfAbsent(ctx, d.Store, storekey.Done(scanID, m.DiffID), m)
	return err
}

// AnalyzeLayer analyses one layer blob, stores its facts under its diffID,
// marks it done, and, when it is the last layer of the scan, claims and
// dispatches build-report. Duplicate deliveries are harmless.
func (d *Steps) AnalyzeLayer(ctx context.Context, job LayerJob) error {
	if job.AnalyzerSet == "" || job.Layers == 0 { // a job queued before jobs carried them
		st, err := scanrecord.LoadState(ctx, d.Store, job.ScanID)
		if err != nil {
			return err
		}
		job.AnalyzerSet, job.Layers = st.AnalyzerSet, len(st.DiffIDs())
	} else if ok, err := d.Store.Exists(ctx, storekey.ScanState(job.ScanID)); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("scan %s: %w", job.ScanID, scanrecord.ErrScanGone)
	}
	// Facts are filed under the version of the set that produced them; a
	// worker running another build must not file its facts under this scan's.
	if v := d.Analyzers.Version(); v != job.AnalyzerSet {
		return fmt.Errorf("scan %s was planned for analyzer set %s, this worker runs %s", job.ScanID, job.AnalyzerSet, v)
	}
	l := job.Layer
	key := storekey.Facts(l.DiffID, job.AnalyzerSet)
	m := scanrecord.Marker{DiffID: l.DiffID, Digest: l.Digest}
	cached, err := d.Store.Exists(ctx, key)
	if err != nil {
		return err
	}
	if cached {
		m.Status = scanrecord.Cached
	} else {
		start := d.now()
		facts, err := d.analyze(ctx, job.Source, l, d.lentAuth(job.PullAuth))
		if errors.Is(err, analyzer.ErrTransient) || ctx.Err() != nil {
			// Nothing is recorded: the platform's retry (or the janitor)
			// runs the layer again on a machine that can, or in time.
			return fmt.Errorf("layer %s: %w", l.DiffID, err)
		}
		if err != nil {
			m.Status, m.Error = scanrecord.Failed, err.Error()
			d.logf("layer %d %s: FAILED: %v", l.Index, digest.Short(l.DiffID), err)
		} else {
			if _, err := store.PutJSONIfAbsent(ctx, d.Store, key, facts); err != nil {
				return err
			}
			m.Status = scanrecord.Analyzed
			d.logf("layer %d %s: analyzed %d entries, %d MB in %s", l.Index, digest.Short(l.DiffID), facts.Stats.Entries, facts.Stats.UncompressedBytes>>20, d.now().Sub(start).Round(time.Millisecond))
		}
	}
	if err := d.mark(ctx, job.ScanID, m); err != nil {
		return err
	}
	return d.tryFinish(ctx, job.ScanID, job.Layers)
}

// lentAuth opens credentials a job carries; none, or any that cannot be
// opened, leaves the pull to the connection's login.
func (d *Steps) lentAuth(sealed string) []source.Option {
	if sealed == "" || d.Sealer == nil {
		return nil
	}
	plain, err := d.Sealer.Open(sealed)
	if err != nil {
		d.logf("lent credentials could not be opened: %v", err)
		return nil
	}
	return []source.Option{source.WithAuth(source.AuthorizationKeychain(plain))}
}

func (d *Steps) analyze(ctx context.Context, src source.Ref, l scanrecord.Layer, extra []source.Option) (*scan.LayerFacts, error) {
	h, err := v1.NewHash(l.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer digest: %w", err)
	}
	layer, err := d.Sources.Layer(ctx, src, h, source.Apply(append(slices.Clip(d.Registry), extra...)...))
	if err != nil {
		return nil, fmt.Errorf("open layer blob: %w", err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("open layer blob: %w", err)
	}
	defer rc.Close()
	return d.Analyzers.Analyze(ctx, rc, l.Digest, l.DiffID)
}

// tryFinish is the fan-in latch: once every layer has its marker, the one
// caller that creates the claim dispatches build-report.
func (d *Steps) tryFinish(ctx context.Context, scanID string, layers int) error {
	done, err := d.Store.List(ctx, storekey.DonePrefix(scanID))
	if err != nil {
		return err
	}
	if len(done) < layers {
		return nil
	}
	won, err := d.Store.PutIfAbsent(ctx, storekey.Claim(scanID), []byte(d.now().Format(time.RFC3339)))
	if err != nil || !won {
		return err
	}
	return dispatch.Enqueue(ctx, d.Dispatch, ReportJob{ScanID: scanID})
}

// Redrive gives a scan stuck without a report what it misses: layers
// without a done marker get their analyze-layer job again, a scan whose
// layers are all done but that has no claim gets its fan-in, and a claimed
// scan gets build-report again. Every step it re-drives is idempotent.
func (d *Steps) Redrive(ctx context.Context, st scanrecord.State, hasFile func(name string) bool) error {
	missing := false
	for _, l := range uniqueLayers(st.Layers) {
		if hasFile(storekey.DoneDir + l.DiffID) {
			continue
		}
		if err := dispatch.Enqueue(ctx, d.Dispatch, layerJob(st, l)); err != nil {
			return err
		}
		missing = true
	}
	switch {
	case missing:
		return nil
	case hasFile(storekey.ClaimFile):
		return dispatch.Enqueue(ctx, d.Dispatch, ReportJob{ScanID: st.ID})
	default:
		return d.tryFinish(ctx, st.ID, len(st.DiffIDs()))
	}
}

// uniqueLayers keeps the first layer of each diffID, in order.
func uniqueLayers(ls []scanrecord.Layer) []scanrecord.Layer {
	seen := map[string]bool{}
	var out []scanrecord.Layer
	for _, l := range ls {
		if !seen[l.DiffID] {
			seen[l.DiffID] = true
			out = append(out, l)
		}
	}
	return out
}
