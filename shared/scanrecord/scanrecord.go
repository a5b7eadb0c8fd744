// Package scanrecord is what one scan records in the store and how it is
// read back: the request and the image's layers (state.json, written once
// when the scan is planned), a create-once marker per finished layer, and
// the result once the report is written. The pipeline writes these records;
// the janitor and the scan API read them.
package scanrecord

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/vex"
	"github.com/layerscan/layerscan/shared/whitelist"
)

// ErrScanGone means there is no such scan: it was never planned, or
// retention deleted it. A job of it has nothing to do.
var ErrScanGone = errors.New("no such scan (never planned, or deleted by retention)")

// Request asks for one image (every selected platform of it) to be scanned.
type Request struct {
	Source       source.Ref `json:"source"`
	Platform     string     `json:"platform,omitempty"`
	AllPlatforms bool       `json:"allPlatforms,omitempty"`
	// Trigger says what asked: cli, api, registry event, timer.
	Trigger string `json:"trigger,omitempty"`
	// Task is the task and item the scan belongs to, whose log it writes.
	Task *TaskRef `json:"task,omitempty"`
	// Tag is the tag a digest-pinned reference was listed under.
	Tag string `json:"tag,omitempty"`
	// Dockerfile is the text of the Dockerfile the image was built from, if
	// the caller has it; its final stage is checked instead of the history.
	Dockerfile string `json:"dockerfile,omitempty"`
	// Whitelist adds rules to the store's shared whitelist for this scan.
	Whitelist []whitelist.Rule `json:"whitelist,omitempty"`
	// VEX adds statements to the store's VEX documents for this scan.
	VEX []vex.Statement `json:"vex,omitempty"`
}

// TaskRef names one image of a task.
type TaskRef struct {
	ID   string `json:"id"`
	Item int    `json:"item"`
}

// Layer is one layer of an image, bottom first.
type Layer struct {
	Index     int    `json:"index"`
	Digest    string `json:"digest,omitempty"`
	DiffID    string `json:"diffID"`
	MediaType string `json:"mediaType,omitempty"`
	Size      int64  `json:"size,omitempty"`
	CreatedBy string `json:"createdBy,omitempty"`
}

// State is storekey.ScanState, written once when the scan is planned.
type State struct {
	ID          string  `json:"id"`
	Created     string  `json:"created"`
	Request     Request `json:"request"`
	Ref         string  `json:"ref"`
	Digest      string  `json:"digest"`
	Platform    string  `json:"platform"`
	AnalyzerSet string  `json:"analyzerSet"`
	Layers      []Layer `json:"layers"`
	// Source is where the layers are read from.
	Source source.Ref `json:"source"`
}

// DiffIDs returns the distinct diffIDs of the scan's layers: an image may
// repeat a layer, and fan-in counts each once.
func (s State) DiffIDs() map[string]bool {
	m := make(map[string]bool, len(s.Layers))
	for _, l := range s.Layers {
		m[l.DiffID] = true
	}
	return m
}

// Layer statuses, as markers record them.
const (
	Analyzed = "analyzed"
	Cached   = "cached"
	Failed   = "failed"
	Pending  = "pending" // no marker yet (progress only)
)

// Marker is storekey.Done, created once per finished layer.
type Marker struct {
	DiffID string `json:"diffID"`
	Digest string `json:"digest,omitempty"`
	// Status is Analyzed, Cached or Failed.
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
	Finished string `json:"finished"`
}

// Result is storekey.Result, written with the report.
type Result struct {
	ReportKey string `json:"reportKey"`
	Complete  bool   `json:"complete"`
	Finished  string `json:"finished"`
	// Layers are the markers the report was built from, bottom first, so
	// that a re-match reads them in one request.
	Layers []Marker `json:"layers,omitempty"`
}

var idRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_-]{0,127}$`)

// validID refuses IDs that could name another key ("..", "a/b", "%2e%2e"
// once decoded): scan IDs are hex and a time stamp.
func validID(id string) bool { return idRe.MatchString(id) }

// LoadState reads a scan's state; a missing one is ErrScanGone.
func LoadState(ctx context.Context, st store.Store, id string) (State, error) {
	var s State
	if !validID(id) {
		return s, fmt.Errorf("scan %q: %w", id, ErrScanGone)
	}
	err := store.GetJSON(ctx, st, storekey.ScanState(id), &s)
	if errors.Is(err, store.ErrNotFound) {
		return s, fmt.Errorf("scan %s: %w", id, ErrScanGone)
	}
	if err != nil {
		return s, fmt.Errorf("scan %s: %w", id, err)
	}
	return s, nil
}

// LoadMarker reads the marker of one layer; ok is false when there is none.
func LoadMarker(ctx context.Context, st store.Store, id, diffID string) (m Marker, ok bool, err error) {
	err = store.GetJSON(ctx, st, storekey.Done(id, diffID), &m)
	if errors.Is(err, store.ErrNotFound) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("scan %s: marker of %s: %w", id, diffID, err)
	}
	return m, true, nil
}

// LoadResult reads a scan's result; ok is false while there is none.
func LoadResult(ctx context.Context, st store.Store, id string) (r Result, ok bool, err error) {
	err = store.GetJSON(ctx, st, storekey.Result(id), &r)
	if errors.Is(err, store.ErrNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("scan %s: result: %w", id, err)
	}
	return r, true, nil
}

// Progress is what GET /v1/scans/{id} answers.
type Progress struct {
	ID       string          `json:"id"`
	Ref      string          `json:"ref"`
	Digest   string          `json:"digest"`
	Platform string          `json:"platform"`
	Created  string          `json:"created"`
	Status   string          `json:"status"` // running, done, incomplete, abandoned
	Layers   []LayerProgress `json:"layers"`
	Done     int             `json:"done"`
	Total    int             `json:"total"`
	Report   string          `json:"report,omitempty"`
	Finished string          `json:"finished,omitempty"`
	// Error says why an abandoned scan was given up on.
	Error string `json:"error,omitempty"`
}

// LayerProgress is one layer's status: pending, analyzed, cached or failed.
type LayerProgress struct {
	Index  int    `json:"index"`
	DiffID string `json:"diffID"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// ReadProgress reads a scan's state, done markers and result.
func ReadProgress(ctx context.Context, st store.Store, id string) (*Progress, error) {
	s, err := LoadState(ctx, st, id)
	if err != nil {
		return nil, err
	}
	p := &Progress{ID: s.ID, Ref: s.Ref, Digest: s.Digest, Platform: s.Platform, Created: s.Created, Status: "running", Total: len(s.Layers)}
	for _, l := range s.Layers {
		lp := LayerProgress{Index: l.Index, DiffID: l.DiffID, Status: Pending}
		m, ok, err := LoadMarker(ctx, st, s.ID, l.DiffID)
		if err != nil {
			return nil, err
		}
		if ok {
			lp.Status, lp.Error = m.Status, m.Error
			p.Done++
		}
		p.Layers = append(p.Layers, lp)
	}
	res, ok, err := LoadResult(ctx, st, s.ID)
	if err != nil {
		return nil, err
	}
	if abandoned, _ := st.Get(ctx, storekey.Abandoned(s.ID)); len(abandoned) > 0 && !ok {
		p.Status, p.Error = "abandoned", string(abandoned)
	}
	if ok {
		p.Status, p.Report, p.Finished = "done", res.ReportKey, res.Finished
		if !res.Complete {
			p.Status = "incomplete"
		}
	}
	return p, nil
}
