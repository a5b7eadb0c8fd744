package pipeline

import (
	"context"
	"errors"
	"strings"

	"github.com/layerscan/layerscan/shared/store"
)

// Progress is what GET /v1/scans/{id} answers.
type Progress struct {
	ID       string          `json:"id"`
	Ref      string          `json:"ref"`
	Digest   string          `json:"digest"`
	Platform string          `json:"platform"`
	Created  string          `json:"created"`
	Status   string          `json:"status"` // running, done, incomplete
	Layers   []LayerProgress `json:"layers"`
	Done     int             `json:"done"`
	Total    int             `json:"total"`
	Report   string          `json:"report,omitempty"`
}

// LayerProgress is one layer's status: pending, analyzed, cached or failed.
type LayerProgress struct {
	Index  int    `json:"index"`
	DiffID string `json:"diffID"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// ScanProgress reads a scan's state, done markers and result.
func (d *Deps) ScanProgress(ctx context.Context, id string) (*Progress, error) {
	if strings.ContainsAny(id, "/\\") || id == "" {
		return nil, ErrScanGone
	}
	st, err := d.loadState(ctx, id)
	if err != nil {
		return nil, err
	}
	p := &Progress{ID: st.ID, Ref: st.Ref, Digest: st.Digest, Platform: st.Platform, Created: st.Created, Status: "running"}
	for _, l := range st.Layers {
		lp := LayerProgress{Index: l.Index, DiffID: l.DiffID, Status: "pending"}
		var m Marker
		err := store.GetJSON(ctx, d.Store, doneKey(st.ID, l.DiffID), &m)
		switch {
		case err == nil:
			lp.Status, lp.Error = m.Status, m.Error
			p.Done++
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		p.Layers = append(p.Layers, lp)
	}
	p.Total = len(st.Layers)
	var res Result
	err = store.GetJSON(ctx, d.Store, resultKey(st.ID), &res)
	switch {
	case err == nil:
		p.Status, p.Report = "done", res.ReportKey
		if !res.Complete {
			p.Status = "incomplete"
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return p, nil
}
