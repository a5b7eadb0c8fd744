// Package task is the Task Management panel's data: every scan-now,
// periodic cycle, push and on-demand scan is a task, whose document
// (storekey.Task: trigger, scope, the images it covers, its deadline) is
// written once, and whose execution log is create-once records per image
// (storekey.TaskRecord), so that the function instances working on a task
// at once never lose an entry. Status and counts are derived from the
// records; a finished task's summary is written once.
package task

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Types of tasks.
const (
	ScanNow  = "scan-now"
	Periodic = "periodic"
	Push     = "push"
	OnDemand = "on-demand"
	// Rematch re-reports stored images after an advisory-DB update.
	Rematch = "rematch"
	// Fix builds, verifies and pushes fixed images (one-click or automatic).
	Fix = "fix"
	// Runtime scans the images a cluster's Pods run (manual only).
	Runtime = "runtime"
)

// Task statuses.
const (
	Running         = "running"
	Succeeded       = "succeeded"
	PartiallyFailed = "partially-failed"
	Failed          = "failed"
	TimedOut        = "timed-out"
)

// Image statuses in the log.
const (
	Pending        = "pending"
	Scanning       = "scanning"
	ImageSucceeded = "succeeded"
	ImageFailed    = "failed"
	Skipped        = "skipped"
	QuotaExhausted = "quota-exhausted"
)

// Reasons an image is skipped.
const (
	ReasonTimeout       = "task timeout"
	ReasonCycle         = "already scanned in this scan cycle"
	ReasonTimeRange     = "not updated within the scan time range"
	ReasonDigestPolicy  = "scan on digest change is off"
	ReasonDuplicatePush = "the same digest was queued moments ago"
	ReasonThrottled     = "the registry's images-per-hour limit is reached"
)

// Item is one image of a task.
type Item struct {
	// Registry is the connection ID, Host the registry host.
	Registry   string `json:"registry"`
	Host       string `json:"host"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	// Updated is when the registry says the tag was last pushed, if it does.
	Updated string `json:"updated,omitempty"`
	// OutOfScope marks an on-demand scan of an image the scope rules do not
	// cover (allowed for operators).
	OutOfScope bool `json:"outOfScope,omitempty"`
	// Scan is the scan whose facts a re-match reuses. An item that names
	// one is planned as that scan when the task is created: a re-match
	// writes no admission or plan records, which for a fleet of thousands
	// would be two writes per image before the first batch is queued.
	Scan string `json:"scan,omitempty"`
	// Workloads are, for a runtime scan, where the image runs
	// (namespace/Kind/name), and Note how its digest was found.
	Workloads []string `json:"workloads,omitempty"`
	Note      string   `json:"note,omitempty"`
}

// Ref is the item's image reference (by digest when known); an image not
// from a registry is named as it was scanned.
func (i Item) Ref() string {
	if i.Host == "" {
		return i.Repository
	}
	if i.Digest != "" {
		return i.Host + "/" + i.Repository + "@" + i.Digest
	}
	return i.Host + "/" + i.Repository + ":" + i.Tag
}

// Task is the task document, written once.
type Task struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Trigger says who or what started it: an API key, a registry event, the timer.
	Trigger  string `json:"trigger"`
	Created  string `json:"created"`
	Deadline string `json:"deadline"`
	// Scope describes what the task covers (registry types, cycle).
	Scope string `json:"scope,omitempty"`
	// Cycle is the scan cycle the task counts quota in.
	Cycle  string `json:"cycle,omitempty"`
	Period string `json:"period,omitempty"`
	Items  []Item `json:"items"`
	// Errors are what kept images out of the task: a registry that could
	// not be listed.
	Errors []string `json:"errors,omitempty"`
}

// DeadlineTime parses the deadline.
func (t *Task) DeadlineTime() time.Time {
	d, _ := time.Parse(time.RFC3339, t.Deadline)
	return d
}

var idRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_-]{0,127}$`)

// ValidID refuses IDs that could name another key.
func ValidID(id string) bool { return idRe.MatchString(id) }

// NewID is a time-ordered random task ID.
func NewID(t time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ErrNotFound is a missing task.
var ErrNotFound = errors.New("no such task")

// Create writes the task once and marks it open; created is false when a
// task of that ID exists (a cycle's task started by another instance).
func Create(ctx context.Context, st store.Store, t *Task) (created bool, err error) {
	if !ValidID(t.ID) {
		return false, fmt.Errorf("task ID %q", t.ID)
	}
	if t.Items == nil {
		t.Items = []Item{}
	}
	if created, err = store.PutJSONIfAbsent(ctx, st, storekey.Task(t.ID), t); err != nil || !created {
		return created, err
	}
	return true, st.Put(ctx, storekey.TaskOpen(t.ID), []byte(t.Created))
}

// Load reads a task document.
func Load(ctx context.Context, st store.Store, id string) (*Task, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	var t Task
	err := store.GetJSON(ctx, st, storekey.Task(id), &t)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("task %s: %w", id, ErrNotFound)
	}
	return &t, err
}

// Open lists the IDs of the tasks not known to have finished.
func Open(ctx context.Context, st store.Store) ([]string, error) {
	keys, err := st.List(ctx, storekey.TaskOpenPrefix)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, strings.TrimPrefix(k, storekey.TaskOpenPrefix))
	}
	return ids, nil
}

// Record names.
const (
	// admission decides, once, whether an image is started or skipped.
	admission = "admission"
	planned   = "planned"
	failed    = "failed"
	scanRec   = "scan-"
	fixRec    = "fix"
	fixClaim  = "fix-claim"
)

// Admission is the create-once decision about one image.
type Admission struct {
	// Outcome is Scanning (started), Skipped, QuotaExhausted or ImageFailed.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	At      string `json:"at"`
}

// Admit records the decision about item; won is false when another
// instance decided first (and its decision stands).
func Admit(ctx context.Context, st store.Store, id string, item int, a Admission) (won bool, err error) {
	return store.PutJSONIfAbsent(ctx, st, storekey.TaskRecord(id, item, admission), a)
}

// Planned records the scans an image was planned as (one per platform).
func Planned(ctx context.Context, st store.Store, id string, item int, scanIDs []string, at time.Time) error {
	_, err := store.PutJSONIfAbsent(ctx, st, storekey.TaskRecord(id, item, planned), plannedRec{ScanIDs: scanIDs, At: at.UTC().Format(time.RFC3339)})
	return err
}

// PlanFailed records why an image could not be planned.
func PlanFailed(ctx context.Context, st store.Store, id string, item int, cause error, at time.Time) error {
	_, err := store.PutJSONIfAbsent(ctx, st, storekey.TaskRecord(id, item, failed), failure{Error: cause.Error(), At: at.UTC().Format(time.RFC3339)})
	return err
}

// ScanResult is the outcome of one scan of an image.
type ScanResult struct {
	ScanID    string   `json:"scanID"`
	Complete  bool     `json:"complete"`
	ReportKey string   `json:"reportKey,omitempty"`
	Errors    []string `json:"errors,omitempty"`
	At        string   `json:"at"`
}

// Finished records the outcome of a scan of an image.
func Finished(ctx context.Context, st store.Store, id string, item int, r ScanResult) error {
	_, err := store.PutJSONIfAbsent(ctx, st, storekey.TaskRecord(id, item, scanRec+r.ScanID), r)
	return err
}

// FixOutcome is the create-once outcome of fixing one image: its status
// (ImageSucceeded, ImageFailed or Skipped), why, and what the fix did.
type FixOutcome struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Detail is the fix's log: per package the version chosen and where it
	// came from, what was refused and why, the verification and the push.
	Detail json.RawMessage `json:"detail,omitempty"`
	At     string          `json:"at"`
}

// ClaimFix lets one delivery of an image's fix job do the fix: a queue
// may deliver a job twice, and two fixes would push two images. won is
// false when another delivery claimed it first. A claimant that dies
// leaves the entry to the task timeout, which fails it.
func ClaimFix(ctx context.Context, st store.Store, id string, item int, at time.Time) (won bool, err error) {
	return store.PutJSONIfAbsent(ctx, st, storekey.TaskRecord(id, item, fixClaim), map[string]string{"at": at.UTC().Format(time.RFC3339)})
}

// Fixed records the outcome of fixing an image.
func Fixed(ctx context.Context, st store.Store, id string, item int, o FixOutcome) error {
	_, err := store.PutJSONIfAbsent(ctx, st, storekey.TaskRecord(id, item, fixRec), o)
	return err
}

type plannedRec struct {
	ScanIDs []string `json:"scanIDs"`
	At      string   `json:"at"`
}

type failure struct {
	Error string `json:"error"`
	At    string `json:"at"`
}

// Entry is one image's line of the execution log.
type Entry struct {
	Item    int      `json:"item"`
	Image   string   `json:"image"`
	Tag     string   `json:"tag,omitempty"`
	Status  string   `json:"status"`
	Reason  string   `json:"reason,omitempty"`
	ScanIDs []string `json:"scanIDs,omitempty"`
	Reports []string `json:"reports,omitempty"`
	// OutOfScope marks an on-demand scan outside the scope rules.
	OutOfScope bool   `json:"outOfScope,omitempty"`
	Updated    string `json:"updated,omitempty"`
	// Fix is a fix task's log of the image (FixOutcome.Detail).
	Fix json.RawMessage `json:"fix,omitempty"`
	// Workloads and Note are a runtime scan's (Item).
	Workloads []string `json:"workloads,omitempty"`
	Note      string   `json:"note,omitempty"`
}

// Final reports whether the entry will not change any more.
func (e Entry) Final() bool { return e.Status != Pending && e.Status != Scanning }

// Counts of a task.
type Counts struct {
	Total     int            `json:"total"`
	Succeeded int            `json:"succeeded"`
	Failed    int            `json:"failed"`
	Skipped   int            `json:"skipped"`
	Running   int            `json:"running"`
	Pending   int            `json:"pending"`
	Reasons   map[string]int `json:"skippedReasons,omitempty"`
}

// View is what GET /v1/tasks/{id} answers.
type View struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Trigger  string   `json:"trigger"`
	Scope    string   `json:"scope,omitempty"`
	Cycle    string   `json:"cycle,omitempty"`
	Created  string   `json:"created"`
	Deadline string   `json:"deadline"`
	Status   string   `json:"status"`
	Progress float64  `json:"progress"`
	Counts   Counts   `json:"counts"`
	Finished string   `json:"finished,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// Notices are lines about the task as a whole (a notification that
	// could not be delivered).
	Notices []string `json:"notices,omitempty"`
	Log     []Entry  `json:"log,omitempty"`
}

// Read derives a task's view from its records.
func Read(ctx context.Context, st store.Store, t *Task) (*View, error) {
	return (*Finals)(nil).Read(ctx, st, t)
}

// Finals keeps the entries of images that reached a final status, which
// their create-once records no longer change, so that a view read again
// reads only the records of the images still pending or running. The
// console reads a running task's view every second, and for a task of
// 10,000 images each read would otherwise be as many requests. Safe for
// concurrent use; the nil Finals keeps nothing.
type Finals struct {
	mu    sync.Mutex
	tasks map[string]map[int]Entry // by task ID and creation time
	order []string                 // oldest first, at most finalsTasks
}

// finalsTasks bounds the tasks a Finals keeps entries of.
const finalsTasks = 16

func (f *Finals) get(id string, i int) (Entry, bool) {
	if f == nil {
		return Entry{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.tasks[id][i]
	return e, ok
}

func (f *Finals) keep(id string, e Entry) {
	if f == nil || !e.Final() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tasks == nil {
		f.tasks = map[string]map[int]Entry{}
	}
	if f.tasks[id] == nil {
		if len(f.order) == finalsTasks {
			delete(f.tasks, f.order[0])
			f.order = f.order[1:]
		}
		f.tasks[id] = map[int]Entry{}
		f.order = append(f.order, id)
	}
	f.tasks[id][e.Item] = e
}

// Read derives a task's view from its records, reading none for the
// images whose final entry f keeps.
func (f *Finals) Read(ctx context.Context, st store.Store, t *Task) (*View, error) {
	keys, err := st.List(ctx, storekey.TaskLog(t.ID))
	if err != nil {
		return nil, err
	}
	byItem := map[int][]string{}
	var notices []string
	for _, k := range keys {
		rest := strings.TrimPrefix(k, storekey.TaskLog(t.ID))
		if strings.HasPrefix(rest, "notices/") {
			if b, err := st.Get(ctx, k); err == nil {
				notices = append(notices, string(b))
			}
			continue
		}
		n, name, ok := strings.Cut(rest, "/")
		i, err := strconv.Atoi(n)
		if ok && err == nil && i >= 0 && i < len(t.Items) {
			byItem[i] = append(byItem[i], name)
		}
	}
	v := &View{ID: t.ID, Type: t.Type, Trigger: t.Trigger, Scope: t.Scope, Cycle: t.Cycle, Created: t.Created, Deadline: t.Deadline, Errors: t.Errors, Notices: notices}
	v.Counts.Total = len(t.Items)
	log, err := f.entries(ctx, st, t, byItem)
	if err != nil {
		return nil, err
	}
	v.Log = log
	for _, e := range log {
		v.Counts.add(e)
		if e.Final() && e.Updated > v.Finished {
			v.Finished = e.Updated
		}
	}
	v.Status = v.Counts.status()
	if len(t.Errors) > 0 && v.Status != Running && v.Status != TimedOut {
		v.Status = PartiallyFailed
		if v.Counts.Succeeded == 0 {
			v.Status = Failed
		}
	}
	if v.Counts.Total > 0 {
		v.Progress = float64(v.Counts.Total-v.Counts.Pending-v.Counts.Running) / float64(v.Counts.Total)
	} else {
		v.Progress = 1
		v.Finished = t.Created
	}
	if v.Status == Running {
		v.Finished = ""
	}
	return v, nil
}

func (c *Counts) add(e Entry) {
	switch e.Status {
	case Pending:
		c.Pending++
	case Scanning:
		c.Running++
	case ImageSucceeded:
		c.Succeeded++
	case ImageFailed:
		c.Failed++
	default:
		c.Skipped++
		if c.Reasons == nil {
			c.Reasons = map[string]int{}
		}
		reason := e.Reason
		if e.Status == QuotaExhausted {
			reason = QuotaExhausted
		}
		c.Reasons[reason]++
	}
}

func (c Counts) status() string {
	switch {
	case c.Pending > 0 || c.Running > 0:
		return Running
	case c.Reasons[ReasonTimeout] > 0:
		return TimedOut
	case c.Failed == 0:
		return Succeeded
	case c.Succeeded == 0:
		return Failed
	}
	return PartiallyFailed
}

// readers bounds the records read at once for one view: a task of
// thousands of images is thousands of small reads, which one at a time
// on an object store take minutes.
const readers = 32

// entries derives every item's log entry, reading their records with at
// most readers at once.
func (f *Finals) entries(ctx context.Context, st store.Store, t *Task, byItem map[int][]string) ([]Entry, error) {
	// A re-match's ID is the same for the same DB and policy, and may be
	// created again once retention removed it: the creation time tells
	// the two apart.
	key := t.ID + "@" + t.Created
	log := make([]Entry, len(t.Items))
	var g errgroup.Group
	g.SetLimit(readers)
	for i := range t.Items {
		if e, ok := f.get(key, i); ok {
			log[i] = e
			continue
		}
		g.Go(func() (err error) {
			if log[i], err = entry(ctx, st, t, i, byItem[i]); err == nil {
				f.keep(key, log[i])
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return log, nil
}

func entry(ctx context.Context, st store.Store, t *Task, i int, names []string) (Entry, error) {
	id, it := t.ID, t.Items[i]
	e := Entry{Item: i, Image: it.Ref(), Tag: it.Tag, Status: Pending, OutOfScope: it.OutOfScope, Workloads: it.Workloads, Note: it.Note}
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	get := func(name string, v any) error {
		return store.GetJSON(ctx, st, storekey.TaskRecord(id, i, name), v)
	}
	if has[fixRec] {
		var o FixOutcome
		if err := get(fixRec, &o); err != nil {
			return e, err
		}
		e.Status, e.Reason, e.Fix, e.Updated = o.Status, o.Reason, o.Detail, o.At
		return e, nil
	}
	if has[planned] || it.Scan != "" {
		p := plannedRec{ScanIDs: []string{it.Scan}, At: t.Created}
		if has[planned] {
			if err := get(planned, &p); err != nil {
				return e, err
			}
		}
		e.ScanIDs, e.Status, e.Updated = p.ScanIDs, Scanning, p.At
		done, complete := 0, true
		var errs []string
		for _, sid := range p.ScanIDs {
			if !has[scanRec+sid] {
				continue
			}
			var r ScanResult
			if err := get(scanRec+sid, &r); err != nil {
				return e, err
			}
			done++
			complete = complete && r.Complete
			errs = append(errs, r.Errors...)
			if r.ReportKey != "" {
				e.Reports = append(e.Reports, r.ReportKey)
			}
			e.Updated = max(e.Updated, r.At)
		}
		if done == len(p.ScanIDs) {
			e.Status = ImageSucceeded
			if !complete {
				e.Status, e.Reason = ImageFailed, strings.Join(errs, "; ")
			}
		}
		return e, nil
	}
	if has[failed] {
		var f failure
		if err := get(failed, &f); err != nil {
			return e, err
		}
		e.Status, e.Reason, e.Updated = ImageFailed, f.Error, f.At
		return e, nil
	}
	if has[admission] {
		var a Admission
		if err := get(admission, &a); err != nil {
			return e, err
		}
		e.Status, e.Reason, e.Updated = a.Outcome, a.Reason, a.At
	}
	return e, nil
}

// Notice records a line about the task that is not about one image (a
// notification that could not be delivered); it shows in the task's view.
func Notice(ctx context.Context, st store.Store, id, text string) error {
	sum := sha256.Sum256([]byte(text))
	return st.Put(ctx, storekey.TaskLog(id)+"notices/"+hex.EncodeToString(sum[:8]), []byte(text))
}

// Close writes the summary of a finished task once and drops its open
// marker; a task still running is left open.
func Close(ctx context.Context, st store.Store, v *View) error {
	if v.Status == Running {
		return nil
	}
	s := *v
	s.Log = nil
	if _, err := store.PutJSONIfAbsent(ctx, st, storekey.TaskSummary(v.ID), s); err != nil {
		return err
	}
	return st.Delete(ctx, storekey.TaskOpen(v.ID))
}

// Summary reads a task's view without its log: the stored summary of a
// finished task, else derived.
func Summary(ctx context.Context, st store.Store, id string) (*View, error) {
	return (*Finals)(nil).Summary(ctx, st, id)
}

// Summary is Summary reading a running task's records through f.
func (f *Finals) Summary(ctx context.Context, st store.Store, id string) (*View, error) {
	var v View
	err := store.GetJSON(ctx, st, storekey.TaskSummary(id), &v)
	if err == nil {
		return &v, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	t, err := Load(ctx, st, id)
	if err != nil {
		return nil, err
	}
	d, err := f.Read(ctx, st, t)
	if err != nil {
		return nil, err
	}
	d.Log = nil
	return d, nil
}

// List returns the summaries of tasks, newest first, of a type and a
// status when given, at most limit.
func List(ctx context.Context, st store.Store, typ, status string, limit int) ([]*View, error) {
	return (*Finals)(nil).List(ctx, st, typ, status, limit)
}

// List is List reading running tasks' records through f.
func (f *Finals) List(ctx context.Context, st store.Store, typ, status string, limit int) ([]*View, error) {
	keys, err := st.List(ctx, storekey.TasksPrefix)
	if err != nil {
		return nil, err
	}
	out := []*View{}
	for _, k := range keys {
		id, ok := strings.CutSuffix(strings.TrimPrefix(k, storekey.TasksPrefix), ".json")
		if !ok || !ValidID(id) {
			continue
		}
		v, err := f.Summary(ctx, st, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if (typ == "" || v.Type == typ) && (status == "" || v.Status == status) {
			out = append(out, v)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Delete removes a task and its log (retention).
func Delete(ctx context.Context, st store.Store, id string) error {
	keys, err := st.List(ctx, storekey.TaskLog(id))
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := st.Delete(ctx, k); err != nil {
			return err
		}
	}
	if err := st.Delete(ctx, storekey.TaskOpen(id)); err != nil {
		return err
	}
	return st.Delete(ctx, storekey.Task(id))
}
