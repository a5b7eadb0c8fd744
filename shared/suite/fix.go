package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/aptrepo"
	"github.com/layerscan/layerscan/shared/digest"
	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/fix"
	"github.com/layerscan/layerscan/shared/netguard"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
)

// StepFix is the step that builds, verifies and pushes one fixed image;
// the fix-image function runs it.
const StepFix = "fix-image"

// FixSuffix is appended to the tag of a fixed image pushed beside the
// original, as the service layerscan replaces names them.
const FixSuffix = "_fixd"

// FixRequest is the body of POST /v1/images/{digest}/fix.
type FixRequest struct {
	// Repository is host/namespace/name of the image; Tag the tag it is
	// pushed under (the fixed image goes to Tag+"_fixd", or Tag itself with
	// Overwrite).
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Overwrite  bool   `json:"overwrite"`
	// Findings are the IDs to fix; none means every system vulnerability
	// with a fixed version that is not whitelisted.
	Findings []string `json:"findings,omitempty"`
	// Push names another target reference (on a configured registry).
	Push string `json:"push,omitempty"`
	// PushUnverified pushes even when the rescan does not confirm the fix.
	PushUnverified bool `json:"pushUnverified,omitempty"`
}

// FixJob is the job of fix-image: one image of a fix task.
type FixJob struct {
	Task           string   `json:"task"`
	Item           int      `json:"item"`
	Overwrite      bool     `json:"overwrite,omitempty"`
	Findings       []string `json:"findings,omitempty"`
	Push           string   `json:"push,omitempty"`
	PushUnverified bool     `json:"pushUnverified,omitempty"`
}

// Step implements dispatch.Job.
func (FixJob) Step() string { return StepFix }

// FixLog is what a fix task's log says of one image.
type FixLog struct {
	Image string `json:"image"`
	*fix.Result
	Verification *Verification `json:"verification,omitempty"`
	// Pushed is the reference the fixed image was pushed to, and its digest.
	Pushed       string `json:"pushed,omitempty"`
	PushedDigest string `json:"pushedDigest,omitempty"`
	Error        string `json:"error,omitempty"`
}

// Verification is the rescan of the fixed image against the original's
// findings.
type Verification struct {
	OK bool `json:"ok"`
	// Gone are the findings the rescan no longer reports.
	Gone []string `json:"gone"`
	// Remaining are those it still reports, each with why.
	Remaining []Remaining `json:"remaining"`
	// Problems are what failed the verification.
	Problems []string `json:"problems,omitempty"`
	Digest   string   `json:"digest,omitempty"`
}

// Remaining is a finding the fixed image still has.
type Remaining struct {
	ID      string `json:"id"`
	Package string `json:"package,omitempty"`
	Reason  string `json:"reason"`
}

// Remediation statuses of an image.
const (
	RemediationFixed     = "fixed"
	RemediationPartial   = "partially-fixed"
	RemediationFailed    = "failed"
	RemediationCommands  = "commands"
	RemediationNothing   = "nothing-to-fix"
	RemediationUnpushed  = "verification-failed"
	remediationMaxListed = 10000
)

// RemediationStatus is an image's latest fix, as GET /v1/fixes lists it.
type RemediationStatus struct {
	Digest      string `json:"digest"`
	Image       string `json:"image"`
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
	FixedImage  string `json:"fixedImage,omitempty"`
	FixedDigest string `json:"fixedDigest,omitempty"`
	Gone        int    `json:"gone"`
	Remaining   int    `json:"remaining"`
	Task        string `json:"task"`
	At          string `json:"at"`
}

// fixRoutes are the fix routes:
//
//	POST /v1/images/{digest}/fix   start a fix task of the image (operator)
//	GET  /v1/fixes                 every image's latest remediation status
//	GET  /v1/fixes/{digest}        one image's
func (e *Env) fixRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/images/{digest}/fix", e.allow(apikeys.Fix, func(w http.ResponseWriter, r *http.Request) {
		var req FixRequest
		if err := decodeStrict(w, r, &req, false); err != nil {
			httpError(w, err)
			return
		}
		v, err := e.StartFix(r.Context(), r.PathValue("digest"), req, whoCalls(r.Context()))
		if err != nil {
			httpError(w, err)
			return
		}
		e.audited(r, "fix.start", req.Repository+"@"+r.PathValue("digest"))
		writeJSON(w, http.StatusAccepted, v)
	}))
	mux.HandleFunc("GET /v1/fixes", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		out, err := e.Remediations(r.Context(), r.URL.Query().Get("status"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"images": out})
	}))
	mux.HandleFunc("GET /v1/fixes/{digest}", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		d := r.PathValue("digest")
		if !digest.Valid(d) {
			httpError(w, BadEvent{errors.New("digest must be sha256:<64 hex>")})
			return
		}
		var st RemediationStatus
		err := store.GetJSON(r.Context(), e.Store, storekey.Remediation(d), &st)
		if err == nil {
			err = covers(r.Context(), st.Image)
		}
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}))
}

// StartFix checks a fix request and starts its task: one image, whose job
// fix-image runs.
func (e *Env) StartFix(ctx context.Context, d string, req FixRequest, trigger string) (*task.View, error) {
	if !digest.Valid(d) {
		return nil, BadEvent{errors.New("digest must be sha256:<64 hex>")}
	}
	repoRef, err := name.NewRepository(req.Repository)
	if err != nil || !strings.Contains(req.Repository, "/") {
		return nil, BadEvent{fmt.Errorf("repository: %w", err)}
	}
	if req.Tag == "" {
		return nil, BadEvent{errors.New("tag is required: the fixed image is pushed under <tag>" + FixSuffix + ", or the tag with overwrite")}
	}
	if _, err := name.NewTag(req.Repository + ":" + req.Tag + FixSuffix); err != nil {
		return nil, BadEvent{fmt.Errorf("tag: %w", err)}
	}
	if len(req.Findings) > 10000 {
		return nil, BadEvent{errors.New("findings: at most 10000 IDs")}
	}
	if err := covers(ctx, req.Repository); err != nil {
		return nil, err
	}
	if req.Push != "" {
		pr, err := name.NewTag(req.Push)
		if err != nil {
			return nil, BadEvent{fmt.Errorf("push: %w", err)}
		}
		if err := covers(ctx, req.Push); err != nil {
			return nil, err
		}
		if _, err := e.admit(ctx, pr.RegistryStr()); err != nil {
			return nil, err
		}
	}
	host := repoRef.RegistryStr()
	c, err := e.admit(ctx, host)
	if err != nil {
		return nil, err
	}
	if _, _, err := e.reportKey(ctx, d); err != nil {
		return nil, fmt.Errorf("%s has no report to fix from: scan it first: %w", d, err)
	}
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	it := task.Item{Registry: c.ID, Host: host, Repository: repoRef.RepositoryStr(), Tag: req.Tag, Digest: d}
	return e.startFixTask(ctx, s, "", trigger, req.Repository+":"+req.Tag, []task.Item{it}, FixJob{Overwrite: req.Overwrite, Findings: req.Findings, Push: req.Push, PushUnverified: req.PushUnverified})
}

// startFixTask creates a fix task (of that ID, unless "") and queues one
// job per image; a task of that ID that exists is answered as it is.
func (e *Env) startFixTask(ctx context.Context, s settings.Settings, id, trigger, scope string, items []task.Item, proto FixJob) (*task.View, error) {
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	t := e.newTask(s, task.Fix, trigger, scope, items)
	if id != "" {
		t.ID = id
	}
	created, err := task.Create(ctx, e.Store, t)
	if err != nil {
		return nil, err
	}
	if !created {
		if t, err = task.Load(ctx, e.Store, t.ID); err != nil {
			return nil, err
		}
		return task.Read(ctx, e.Store, t)
	}
	now := e.now().Format(time.RFC3339)
	for i := range items {
		if _, err := task.Admit(ctx, e.Store, t.ID, i, task.Admission{Outcome: task.Scanning, At: now}); err != nil {
			return nil, err
		}
		j := proto
		j.Task, j.Item = t.ID, i
		if err := dispatch.Enqueue(ctx, d.Dispatch, j); err != nil {
			return nil, err
		}
	}
	return task.Read(ctx, e.Store, t)
}

// fixClient reaches the package mirrors of s only (and private addresses
// only for a mirror that allows them), through the network guard.
func (e *Env) fixClient(s settings.Settings) *http.Client {
	g := &netguard.Guard{Policy: mirrorPolicy(mirrors(s)), Resolver: e.Guard.Resolver, Dial: e.Guard.Dial}
	return &http.Client{Transport: g.Transport(), Timeout: 30 * time.Minute}
}

func mirrors(s settings.Settings) map[string]aptrepo.Mirror {
	m := map[string]aptrepo.Mirror{}
	for k, v := range fix.Defaults {
		m[k] = v
	}
	for k, v := range s.Fix.Mirrors {
		m[k] = v
	}
	return m
}

type mirrorPolicy map[string]aptrepo.Mirror

func (p mirrorPolicy) find(host string) (aptrepo.Mirror, bool) {
	for _, m := range p {
		for _, s := range m.Suites {
			if u, err := url.Parse(s.URL); err == nil && strings.EqualFold(u.Host, host) {
				return m, true
			}
		}
	}
	return aptrepo.Mirror{}, false
}

func (p mirrorPolicy) Reachable(host string) bool { _, ok := p.find(host); return ok }
func (p mirrorPolicy) Named(host string) bool     { m, ok := p.find(host); return ok && m.AllowPrivate }

// RunFix is fix-image: build the fixed image, verify it by a rescan, push
// it, rescan what was pushed, and record the outcome once.
func (e *Env) RunFix(ctx context.Context, j FixJob) error {
	t, err := task.Load(ctx, e.Store, j.Task)
	if err != nil {
		return err
	}
	if j.Item < 0 || j.Item >= len(t.Items) {
		return fmt.Errorf("fix job: task %s has no item %d", j.Task, j.Item)
	}
	it := t.Items[j.Item]
	won, err := task.ClaimFix(ctx, e.Store, t.ID, j.Item, e.now())
	if err != nil || !won {
		return err // a second delivery of the job: the first does the fix
	}
	lg := &FixLog{Image: it.Host + "/" + it.Repository + "@" + it.Digest}
	status, reason, err := e.fix(ctx, t, it, j, lg)
	if err != nil {
		// the store failed: the outcome is recorded as a failure, since the
		// claim keeps a retry from running
		e.Log.Printf("fix-image: task %s item %d: %v", t.ID, j.Item, err)
		status, reason = task.ImageFailed, err.Error()
		lg.Error = reason
	}
	detail, _ := json.Marshal(lg)
	if err := store.PutJSON(ctx, e.Store, storekey.FixResult(t.ID, j.Item), lg); err != nil {
		return err
	}
	rs := RemediationStatus{Digest: it.Digest, Image: it.Host + "/" + it.Repository + ":" + it.Tag, Status: remediation(status, lg), Reason: reason, FixedImage: lg.Pushed, FixedDigest: lg.PushedDigest, Task: t.ID, At: e.now().Format(time.RFC3339)}
	if v := lg.Verification; v != nil {
		rs.Gone, rs.Remaining = len(v.Gone), len(v.Remaining)
	}
	if err := store.PutJSON(ctx, e.Store, storekey.Remediation(it.Digest), rs); err != nil {
		return err
	}
	if err := task.Fixed(ctx, e.Store, t.ID, j.Item, task.FixOutcome{Status: status, Reason: reason, Detail: detail, At: e.now().Format(time.RFC3339)}); err != nil {
		return err
	}
	if v, err := task.Read(ctx, e.Store, t); err == nil && v.Status != task.Running {
		task.Close(ctx, e.Store, v)
		e.taskEvent(ctx, v)
	}
	e.Log.Printf("fix-image: task %s item %d: %s %s", t.ID, j.Item, status, reason)
	return nil
}

func remediation(status string, lg *FixLog) string {
	switch {
	case lg.Result == nil:
		return RemediationFailed
	case lg.Pushed != "" && lg.Verification != nil && len(lg.Verification.Remaining) == 0:
		return RemediationFixed
	case lg.Pushed != "":
		return RemediationPartial
	case lg.Verification != nil && !lg.Verification.OK:
		return RemediationUnpushed
	case lg.Fixable == fix.FixCommands:
		return RemediationCommands
	case status == task.Skipped:
		return RemediationNothing
	}
	return RemediationFailed
}

// fix does the work of RunFix; a returned error is transient, an image
// that cannot be fixed is a status and a reason.
func (e *Env) fix(ctx context.Context, t *task.Task, it task.Item, j FixJob, lg *FixLog) (status, reason string, err error) {
	failed := func(format string, args ...any) (string, string, error) {
		lg.Error = fmt.Sprintf(format, args...)
		return task.ImageFailed, lg.Error, nil
	}
	key, _, err := e.reportKey(ctx, it.Digest)
	if err != nil {
		return failed("no report of %s: %v", it.Digest, err)
	}
	var rep report.Report
	if err := store.GetJSON(ctx, e.Store, key, &rep); err != nil {
		return "", "", err
	}
	set, err := e.Live.Set(ctx)
	if err != nil {
		return "", "", err
	}
	conn, ok := set.ByID(it.Registry)
	if !ok {
		return failed("registry connection %s is gone", it.Registry)
	}
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return "", "", err
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return "", "", err
	}
	opts := source.Apply(d.Registry...)
	opts.Platform = rep.Image.Platform
	a, err := d.Sources.Open(ctx, source.Ref{Kind: source.KindRegistry, Location: lg.Image, Insecure: conn.Insecure}, opts)
	if err != nil {
		return failed("pull %s: %v", lg.Image, err)
	}
	sel, err := source.Select(a, opts)
	if err != nil || len(sel) != 1 {
		return failed("pull %s: %v", lg.Image, err)
	}
	tmp, err := os.MkdirTemp("", "layerscan-fix-*")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	// The archive's signatures and Valid-Until are judged by the machine's
	// clock, not the suite's (which tests move).
	fx := &fix.Fixer{Mirrors: s.Fix.Mirrors, HTTP: e.fixClient(s), TempDir: tmp}
	res, vs, err := FixVerified(ctx, d, fx, sel[0].Image, &rep, fix.Request{Findings: j.Findings, Note: "task " + t.ID}, tmp, lg)
	if err != nil {
		return failed("%v", err)
	}
	defer res.Close()
	if res.Image == nil {
		switch {
		case res.Fixable == fix.FixCommands:
			return task.Skipped, "fix images are not supported for this distribution: apply these commands", nil
		case len(res.Refused) > 0:
			return failed("no package could be fixed: %s", refusedText(res.Refused))
		}
		return task.Skipped, "no system vulnerability with a fixed version to fix", nil
	}
	if !lg.Verification.OK && !j.PushUnverified {
		// The rescan's report names a local layout that is about to be
		// removed: it must not join the stored images.
		if err := e.Store.Delete(ctx, storekey.ImageLatest(lg.Verification.Digest)); err != nil {
			return "", "", err
		}
		return failed("verification failed, nothing pushed: %s", strings.Join(lg.Verification.Problems, "; "))
	}

	target := j.Push
	if target == "" {
		target = it.Host + "/" + it.Repository + ":" + it.Tag
		if !j.Overwrite {
			target += FixSuffix
		}
	}
	tr, err := name.NewTag(target)
	if err != nil {
		return failed("push target %q: %v", target, err)
	}
	pc, ok := set.ForHost(tr.RegistryStr())
	if !ok {
		return failed("push target %s is not on a configured registry", target)
	}
	pushed, err := registry.Push(ctx, target, pc.Insecure, res.Image, opts)
	if err != nil {
		return failed("%v", err)
	}
	lg.Pushed, lg.PushedDigest = target, pushed
	// The pushed image's own report: every layer's facts are stored, so
	// this reads the manifest and config only.
	if _, err := vs.ScanLocal(ctx, scanrecord.Request{Source: source.Ref{Kind: source.KindRegistry, Location: target, Insecure: pc.Insecure}, Trigger: "fix " + t.ID, Tag: tr.TagStr()}, 2); err != nil {
		lg.Notes = append(lg.Notes, "the pushed image's report could not be built: "+err.Error())
	}
	reason = fmt.Sprintf("pushed %s: %d finding(s) gone, %d remaining", target, len(lg.Verification.Gone), len(lg.Verification.Remaining))
	if !lg.Verification.OK {
		reason += " (pushed unverified, as asked: " + strings.Join(lg.Verification.Problems, "; ") + ")"
	}
	return task.ImageSucceeded, reason, nil
}

// FixVerified builds the fixed image of img (whose report is rep) and
// verifies it before anything is pushed: the fixed image is written to a
// local layout under dir and scanned there with d's steps, in this
// process. lg receives the plan and the verification. The result's Image
// is nil when nothing could be upgraded; the caller closes the result.
// The steps returned scan in this process and tell nobody of their
// reports, for the caller's scan of what it pushes.
func FixVerified(ctx context.Context, d *pipeline.Steps, fx *fix.Fixer, img v1.Image, rep *report.Report, req fix.Request, dir string, lg *FixLog) (*fix.Result, *pipeline.Steps, error) {
	res, err := fx.Fix(ctx, img, rep, req)
	if err != nil {
		return nil, nil, err
	}
	lg.Result = res
	vs := *d
	vs.Reported, vs.Extra = nil, nil
	if res.Image == nil {
		return res, &vs, nil
	}
	at := filepath.Join(dir, "layout")
	lp, err := layout.Write(at, empty.Index)
	if err == nil {
		err = lp.AppendImage(res.Image)
	}
	if err != nil {
		res.Close()
		return nil, nil, fmt.Errorf("write the fixed image: %w", err)
	}
	reps, err := vs.ScanLocal(ctx, scanrecord.Request{Source: source.Ref{Kind: source.KindOCILayout, Location: at}, Trigger: "fix verification"}, 2)
	if err == nil && len(reps) != 1 {
		err = fmt.Errorf("%d reports", len(reps))
	}
	if err != nil {
		res.Close()
		return nil, nil, fmt.Errorf("verification scan: %w", err)
	}
	lg.Verification = verify(rep, reps[0], res)
	return res, &vs, nil
}

func refusedText(rs []fix.Refused) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Package+": "+r.Reason)
	}
	return strings.Join(s, "; ")
}

// verify compares the original's findings the fix was about with the
// fixed image's report: the findings of upgraded packages must be gone,
// the upgraded versions installed, no package lost, and the report whole.
func verify(orig, fixed *report.Report, res *fix.Result) *Verification {
	v := &Verification{OK: true, Gone: []string{}, Remaining: []Remaining{}, Digest: fixed.Image.Digest}
	problem := func(format string, args ...any) {
		v.OK = false
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
	if !fixed.Complete {
		problem("the fixed image's report is incomplete: %s", strings.Join(fixed.Errors, "; "))
	}
	still := map[string]bool{}
	for _, f := range fixed.Findings {
		if f.Category == scan.SystemVulnerability && f.Package != nil {
			still[f.ID+" "+f.Package.Name] = true
		}
	}
	versions := map[string]string{}
	osPkgs := func(r *report.Report) int {
		n := 0
		for _, p := range r.Packages {
			if p.IsOS() {
				n++
			}
		}
		return n
	}
	for _, p := range fixed.Packages {
		if p.IsOS() {
			versions[p.Name] = p.Version
		}
	}
	if a, b := osPkgs(orig), osPkgs(fixed); b < a {
		problem("the fixed image lists %d OS packages, the original %d", b, a)
	}
	why := map[string]string{}
	for _, r := range res.Refused {
		why[r.Package] = r.Reason
	}
	upgraded := map[string]fix.Upgrade{}
	for _, u := range res.Upgrades {
		upgraded[u.Package] = u
		if got := versions[u.Package]; got != u.To {
			problem("%s is %q in the fixed image, not %s", u.Package, got, u.To)
		}
	}
	seen := map[string]bool{}
	for _, f := range orig.Findings {
		if f.Category != scan.SystemVulnerability || f.Package == nil || f.Whitelisted {
			continue
		}
		k := f.ID + " " + f.Package.Name
		if seen[k] {
			continue
		}
		seen[k] = true
		if !still[k] {
			v.Gone = append(v.Gone, f.ID+" ("+f.Package.Name+")")
			continue
		}
		r := Remaining{ID: f.ID, Package: f.Package.Name}
		switch {
		case f.FixedVersion == "":
			r.Reason = "no fixed version"
		case why[f.Package.Name] != "":
			r.Reason = why[f.Package.Name]
		case f.Package.Type != "deb":
			r.Reason = "not a dpkg family: apply " + f.Remediation
		case upgradedHas(upgraded, f):
			r.Reason = "still reported after the upgrade"
			problem("%s is still reported for %s %s", f.ID, f.Package.Name, upgraded[f.Package.Name].To)
		default:
			r.Reason = "not selected for this fix"
		}
		v.Remaining = append(v.Remaining, r)
	}
	sort.Strings(v.Gone)
	return v
}

func upgradedHas(up map[string]fix.Upgrade, f scan.Finding) bool {
	u, ok := up[f.Package.Name]
	if !ok {
		return false
	}
	for _, id := range u.Findings {
		if id == f.ID {
			return true
		}
	}
	return false
}

// autoFix starts the automatic fixing run of the current fixing cycle,
// once however many timer instances run: a fix task over the stored
// images in the fixing scope that were updated within the time range and
// have a finding a fixed image can remove. It answers the task's ID, ""
// when the run of this cycle exists already.
func (e *Env) autoFix(ctx context.Context, s settings.Settings) (string, error) {
	cycle, _, _ := settings.Scan{Cycle: s.Fix.Cycle, CycleAnchor: "1970-01-01T00:00:00Z"}.CycleAt(e.now())
	id := "autofix-" + cycle
	if ok, err := e.Store.Exists(ctx, storekey.Task(id)); err != nil || ok {
		return "", err
	}
	items, err := e.autoFixItems(ctx, s)
	if err != nil {
		return "", err
	}
	v, err := e.startFixTask(ctx, s, id, "automatic fixing", "fixing cycle "+cycle, items, FixJob{Overwrite: s.Fix.Overwrite})
	if err != nil {
		return "", err
	}
	e.Log.Printf("periodic-scan: automatic fixing %s: task %s with %d image(s)", cycle, v.ID, len(items))
	return v.ID, nil
}

// autoFixItems are the images automatic fixing covers.
func (e *Env) autoFixItems(ctx context.Context, s settings.Settings) ([]task.Item, error) {
	set, err := e.Live.Set(ctx)
	if err != nil {
		return nil, err
	}
	var since time.Time
	if s.Fix.TimeRangeDays > 0 {
		since = e.now().AddDate(0, 0, -s.Fix.TimeRangeDays)
	}
	items := []task.Item{}
	err = e.storedImages(ctx, func(d string, l pipeline.Latest) error {
		if len(items) >= maxListed || l.Tag == "" || strings.HasSuffix(l.Tag, FixSuffix) {
			return nil
		}
		ref, err := name.ParseReference(l.Ref)
		if err != nil {
			return nil
		}
		host, repo := ref.Context().RegistryStr(), ref.Context().RepositoryStr()
		c, ok := set.ForHost(host)
		if !ok || !s.Fix.InScope(settings.Connection{ID: c.ID, Hosts: c.Hosts}, repo, l.Tag) {
			return nil
		}
		var prev RemediationStatus
		if err := store.GetJSON(ctx, e.Store, storekey.Remediation(d), &prev); err == nil && prev.Status != RemediationFailed && prev.Status != RemediationUnpushed {
			return nil // fixed, or found to need commands, once: a new digest is a new image
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if !since.IsZero() {
			if t, ok := e.imageTime(ctx, d); !ok || t.Before(since) {
				return nil
			}
		}
		if fixable, err := e.hasImageFix(ctx, l.ReportKey); err != nil || !fixable {
			return nil
		}
		items = append(items, task.Item{Registry: c.ID, Host: host, Repository: repo, Tag: l.Tag, Digest: d})
		return nil
	})
	return items, err
}

// imageTime is when the image was made: its config's creation time (the
// registries' push times are not kept per digest).
func (e *Env) imageTime(ctx context.Context, d string) (time.Time, bool) {
	var cfg struct {
		Created time.Time `json:"created"`
	}
	if err := store.GetJSON(ctx, e.Store, storekey.ImageConfig(d), &cfg); err != nil || cfg.Created.IsZero() {
		return time.Time{}, false
	}
	return cfg.Created, true
}

// hasImageFix reports whether a report has a finding a fixed image removes.
func (e *Env) hasImageFix(ctx context.Context, key string) (bool, error) {
	var r struct {
		Findings []scan.Finding `json:"findings"`
	}
	if err := store.GetJSON(ctx, e.Store, key, &r); err != nil {
		return false, err
	}
	for _, f := range r.Findings {
		if f.Fixable == fix.FixImage && !f.Whitelisted {
			return true, nil
		}
	}
	return false, nil
}

// Remediations lists every image's latest remediation status, of one
// status when given, for the images the caller's key covers.
func (e *Env) Remediations(ctx context.Context, status string) ([]RemediationStatus, error) {
	keys, err := e.Store.List(ctx, storekey.RemediationPrefix)
	if err != nil {
		return nil, err
	}
	out := []RemediationStatus{}
	for _, k := range keys {
		if len(out) >= remediationMaxListed {
			break
		}
		var st RemediationStatus
		if err := store.GetJSON(ctx, e.Store, k, &st); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		if (status == "" || st.Status == status) && covers(ctx, st.Image) == nil {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At > out[j].At })
	return out, nil
}
