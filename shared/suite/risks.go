package suite

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/checks"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/whitelist"
)

// riskReport is the part of a report the risk lists read: decoding only
// these fields skips the packages and layers, most of a report's bytes.
type riskReport struct {
	Image struct {
		Ref    string `json:"ref"`
		Digest string `json:"digest"`
	} `json:"image"`
	Complete  bool           `json:"complete"`
	CreatedAt string         `json:"createdAt"`
	Findings  []scan.Finding `json:"findings"`
	Layers    []struct {
		DiffID    string `json:"diffID"`
		CreatedBy string `json:"createdBy"`
	} `json:"layers"`
}

// reportCache keeps decoded reports by the latest pointer that named them:
// a report's key is rewritten when its image is re-reported under another
// policy, but every write moves the pointer (its scan and time), so an
// entry is never stale. Bounded: past the bound an arbitrary entry makes
// room, so a fleet larger than it still finds most of its reports.
type reportCache struct {
	mu sync.Mutex
	m  map[string]*riskReport
}

const reportCacheSize = 5000

func (c *reportCache) get(ctx context.Context, st store.Store, l pipeline.Latest) (*riskReport, error) {
	key := l.ReportKey + "\x00" + l.ScanID + "\x00" + l.Created
	c.mu.Lock()
	r, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	r = &riskReport{}
	if err := store.GetJSON(ctx, st, l.ReportKey, r); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*riskReport{}
	}
	for k := range c.m {
		if len(c.m) < reportCacheSize {
			break
		}
		delete(c.m, k) // an arbitrary one: a larger fleet keeps most of its hits
	}
	c.m[key] = r
	c.mu.Unlock()
	return r, nil
}

// latestReports calls fn with every stored image's latest report that the
// caller's key covers.
func (e *Env) latestReports(ctx context.Context, fn func(r *riskReport, l pipeline.Latest)) error {
	return e.storedImages(ctx, func(d string, l pipeline.Latest) error {
		r, err := e.reports.get(ctx, e.Store, l)
		if errors.Is(err, store.ErrNotFound) {
			return nil // pruned since latest.json was read
		}
		if err != nil {
			return err
		}
		if covers(ctx, r.Image.Ref) == nil {
			fn(r, l)
		}
		return nil
	})
}

// RiskRow is one row of a risk list: one finding (a vulnerability, a check,
// a file) with the images it is found in.
type RiskRow struct {
	Category scan.Category `json:"category"`
	ID       string        `json:"id"`
	Severity scan.Severity `json:"severity"`
	Title    string        `json:"title"`
	Package  string        `json:"package,omitempty"`
	Fixable  string        `json:"fixable,omitempty"`
	Images   int           `json:"images"`
}

// RiskFilter selects risk rows.
type RiskFilter struct {
	Category   scan.Category
	Severity   scan.Severity
	Repository string
	Text       string
	// Ascending orders by severity from Unknown up (the seed's toggle).
	Ascending     bool
	Offset, Limit int
	// Cluster, Namespace and Workload (Kind/name) keep the images a
	// runtime scan found running there.
	Cluster, Namespace, Workload string
}

// runtimeFilter is the set of digests running where f says, nil for no
// runtime filter.
func (e *Env) runtimeFilter(ctx context.Context, f RiskFilter) (map[string]bool, error) {
	if f.Cluster == "" && f.Namespace == "" && f.Workload == "" {
		return nil, nil
	}
	idx, err := e.runtimeIndex(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for d, ws := range idx {
		for _, w := range ws {
			// cluster/namespace/Kind/name
			parts := strings.SplitN(w, "/", 3)
			if len(parts) == 3 && (f.Cluster == "" || parts[0] == f.Cluster) && (f.Namespace == "" || parts[1] == f.Namespace) && (f.Workload == "" || parts[2] == f.Workload || strings.HasSuffix(parts[2], "/"+f.Workload)) {
				out[d] = true
			}
		}
	}
	return out, nil
}

func (f RiskFilter) repositoryOK(ref string) bool {
	repo := whitelist.Repository(ref)
	return f.Repository == "" || repo == f.Repository || strings.HasSuffix(repo, "/"+f.Repository) || strings.Contains(repo, f.Repository)
}

func rowKey(f scan.Finding) string {
	k := string(f.Category) + "\x00" + f.ID
	if f.Package != nil {
		k += "\x00" + f.Package.Name
	}
	return k
}

// Risks answers the console's landing page: counts by category and
// severity over every image's latest report (not whitelisted), and one
// page of the rows of a category, filtered and sorted on the server.
func (e *Env) Risks(ctx context.Context, f RiskFilter) (map[string]any, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	counts := map[scan.Category]map[scan.Severity]int{}
	for _, c := range scan.Categories {
		counts[c] = map[scan.Severity]int{}
		for _, s := range scan.Severities {
			counts[c][s] = 0
		}
	}
	rows := map[string]*RiskRow{}
	text := strings.ToLower(f.Text)
	images := 0
	runningHere, err := e.runtimeFilter(ctx, f)
	if err != nil {
		return nil, err
	}
	err = e.latestReports(ctx, func(r *riskReport, _ pipeline.Latest) {
		if !f.repositoryOK(r.Image.Ref) || runningHere != nil && !slices.ContainsFunc(runningAs(r.Image.Ref, r.Image.Digest), func(d string) bool { return runningHere[d] }) {
			return
		}
		images++
		seen := map[string]bool{}
		for _, fd := range r.Findings {
			if fd.Whitelisted {
				continue
			}
			if _, ok := counts[fd.Category]; ok {
				counts[fd.Category][fd.Severity]++
			}
			if f.Category != "" && fd.Category != f.Category || f.Severity != "" && fd.Severity != f.Severity {
				continue
			}
			if text != "" && !strings.Contains(strings.ToLower(fd.ID+" "+fd.Title+" "+pkgName(fd)+" "+fd.Path), text) {
				continue
			}
			k := rowKey(fd)
			row, ok := rows[k]
			if !ok {
				row = &RiskRow{Category: fd.Category, ID: fd.ID, Severity: fd.Severity, Title: fd.Title, Package: pkgName(fd), Fixable: fd.Fixable}
				rows[k] = row
			}
			if !seen[k] {
				seen[k] = true
				row.Images++
			}
		}
	})
	if err != nil {
		return nil, err
	}
	list := make([]*RiskRow, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	slices.SortFunc(list, func(a, b *RiskRow) int {
		if a.Severity.Rank() != b.Severity.Rank() {
			if f.Ascending {
				return a.Severity.Rank() - b.Severity.Rank()
			}
			return b.Severity.Rank() - a.Severity.Rank()
		}
		if a.Images != b.Images {
			return b.Images - a.Images
		}
		return strings.Compare(a.ID+a.Package, b.ID+b.Package)
	})
	total := len(list)
	page := list[min(f.Offset, total):min(f.Offset+f.Limit, total)]
	return map[string]any{"counts": counts, "images": images, "total": total, "offset": f.Offset, "rows": page}, nil
}

func pkgName(f scan.Finding) string {
	if f.Package == nil {
		return ""
	}
	return f.Package.Name
}

// RiskImage is one image a risk row is found in, with where.
type RiskImage struct {
	Image       string `json:"image"`
	Digest      string `json:"digest"`
	Version     string `json:"version,omitempty"`
	Path        string `json:"path,omitempty"`
	LayerDiffID string `json:"layerDiffID,omitempty"`
	// CreatedBy is the history line of the layer the finding is in.
	CreatedBy    string `json:"createdBy,omitempty"`
	FixedVersion string `json:"fixedVersion,omitempty"`
	Remediation  string `json:"remediation,omitempty"`
	Fixable      string `json:"fixable,omitempty"`
	Evidence     string `json:"evidence,omitempty"`
	// Workloads are where a runtime scan found the image running
	// (cluster/namespace/Kind/name).
	Workloads []string `json:"workloads,omitempty"`
}

// RiskDetail answers one risk row: the finding and every image it is in.
func (e *Env) RiskDetail(ctx context.Context, category scan.Category, id, pkg string) (map[string]any, error) {
	var first *scan.Finding
	out := []RiskImage{}
	where, err := e.runtimeIndex(ctx)
	if err != nil {
		return nil, err
	}
	err = e.latestReports(ctx, func(r *riskReport, _ pipeline.Latest) {
		for i, fd := range r.Findings {
			if fd.Whitelisted || fd.Category != category || fd.ID != id || pkgName(fd) != pkg {
				continue
			}
			if first == nil {
				first = &r.Findings[i]
			}
			ri := RiskImage{Image: r.Image.Ref, Digest: r.Image.Digest, Path: fd.Path, LayerDiffID: fd.LayerDiffID, FixedVersion: fd.FixedVersion, Remediation: fd.Remediation, Fixable: fd.Fixable, Evidence: fd.Evidence, Workloads: workloadsOf(where, r.Image.Ref, r.Image.Digest)}
			if fd.Package != nil {
				ri.Version = fd.Package.Version
			}
			for _, l := range r.Layers {
				if l.DiffID == fd.LayerDiffID {
					ri.CreatedBy = l.CreatedBy
				}
			}
			out = append(out, ri)
			if len(out) >= 1000 {
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if first == nil {
		return nil, store.ErrNotFound
	}
	return map[string]any{"finding": first, "images": out}, nil
}

// ImageRow is one stored image as the console's image list shows it.
type ImageRow struct {
	Image    string                                  `json:"image"`
	Tag      string                                  `json:"tag,omitempty"`
	Digest   string                                  `json:"digest"`
	Scanned  string                                  `json:"scanned"`
	Complete bool                                    `json:"complete"`
	Counts   map[scan.Category]map[scan.Severity]int `json:"counts"`
}

// Images lists the stored images (latest report each), filtered by text,
// newest scan first, one page.
func (e *Env) Images(ctx context.Context, q string, offset, limit int) (map[string]any, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	q = strings.ToLower(q)
	var rows []ImageRow
	err := e.latestReports(ctx, func(r *riskReport, l pipeline.Latest) {
		if q != "" && !strings.Contains(strings.ToLower(r.Image.Ref+" "+r.Image.Digest), q) {
			return
		}
		row := ImageRow{Image: r.Image.Ref, Tag: l.Tag, Digest: r.Image.Digest, Scanned: r.CreatedAt, Complete: r.Complete, Counts: map[scan.Category]map[scan.Severity]int{}}
		for _, fd := range r.Findings {
			if fd.Whitelisted {
				continue
			}
			if row.Counts[fd.Category] == nil {
				row.Counts[fd.Category] = map[scan.Severity]int{}
			}
			row.Counts[fd.Category][fd.Severity]++
		}
		rows = append(rows, row)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b ImageRow) int { return strings.Compare(b.Scanned+b.Image, a.Scanned+a.Image) })
	total := len(rows)
	return map[string]any{"total": total, "offset": offset, "images": rows[min(offset, total):min(offset+limit, total)]}, nil
}

// consoleRoutes are the read routes the console's pages page on:
//
//	GET /v1/whoami                         the caller's key: id, role, name, repositories
//	GET /v1/risks?category=&severity=&repository=&q=&order=asc|desc&offset=&limit=
//	GET /v1/risks/{category}/{id}?package= one row: the finding and its images
//	GET /v1/images?q=&offset=&limit=       the stored images, newest scan first
//	GET /v1/checks                         the check catalog the settings select from
func (e *Env) consoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/checks", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"baseline": checks.Baseline, "build": checks.Build, "sensitiveFiles": checks.SensitiveFiles, "accessKeys": checks.AccessKeys, "passwords": checks.Passwords})
	}))
	mux.HandleFunc("GET /v1/whoami", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		k := callerKey(r.Context())
		writeJSON(w, http.StatusOK, map[string]any{"id": k.ID, "role": k.Role, "name": k.Name, "repositories": k.Repositories, "can": map[string]bool{
			"manage": k.Can(apikeys.Manage), "scan": k.Can(apikeys.Scan), "fix": k.Can(apikeys.Fix), "readSettings": k.Can(apikeys.ReadSettings)}})
	}))
	mux.HandleFunc("GET /v1/risks", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := RiskFilter{Category: scan.Category(q.Get("category")), Repository: q.Get("repository"), Text: q.Get("q"), Ascending: q.Get("order") == "asc",
			Cluster: q.Get("cluster"), Namespace: q.Get("namespace"), Workload: q.Get("workload")}
		if s := q.Get("severity"); s != "" {
			v, err := scan.ParseSeverity(s)
			if err != nil {
				httpError(w, BadEvent{err})
				return
			}
			f.Severity = v
		}
		f.Offset, _ = strconv.Atoi(q.Get("offset"))
		f.Limit, _ = strconv.Atoi(q.Get("limit"))
		f.Offset = max(f.Offset, 0)
		out, err := e.Risks(r.Context(), f)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}))
	mux.HandleFunc("GET /v1/risks/{category}/{id}", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		out, err := e.RiskDetail(r.Context(), scan.Category(r.PathValue("category")), r.PathValue("id"), r.URL.Query().Get("package"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}))
	mux.HandleFunc("GET /v1/images", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		offset, _ := strconv.Atoi(q.Get("offset"))
		limit, _ := strconv.Atoi(q.Get("limit"))
		out, err := e.Images(r.Context(), q.Get("q"), max(offset, 0), limit)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}))
}
