// Package janitor keeps the store in order on a timer: it re-drives scans
// stuck without a report (a worker died, a notification was lost), writes
// unconsumed job objects anew so that their function is triggered again,
// and deletes finished scans' records past retention.
package janitor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
)

// Result says what one janitor run did.
type Result struct {
	Redriven     []string `json:"redriven,omitempty"`     // scans given their missing jobs again
	RequeuedJobs []string `json:"requeuedJobs,omitempty"` // job objects nobody consumed
	Deleted      []string `json:"deleted,omitempty"`      // scans past retention
	DeletedTasks []string `json:"deletedTasks,omitempty"` // tasks past retention
	// DeletedReports counts reports against DB versions superseded before
	// the retention cutoff.
	DeletedReports int `json:"deletedReports,omitempty"`
	// DeletedRecords counts change records and notification records past
	// retention.
	DeletedRecords int `json:"deletedRecords,omitempty"`
	// Expired counts the objects of past de-duplication windows and
	// throttle hours deleted.
	Expired   int      `json:"expired,omitempty"`
	Abandoned []string `json:"abandoned,omitempty"` // scans given up on after MaxRedrives
	// Unreadable are records that do not parse: skipped, never a reason
	// to stop tending the others.
	Unreadable []string `json:"unreadable,omitempty"`
}

// MaxRedrives is how often a scan that makes no progress is re-driven
// before it is abandoned (marked so, with its reason): a poison scan must
// not be retried forever.
const MaxRedrives = 4

// DefaultStuckAfter is how long a scan may make no progress (no layer
// finished, no report) before it is re-driven. A layer at the
// decompression floor takes seconds (a 1 GiB layer 8 s here); FC retries a
// failed async invocation 3 times within minutes on its own; so five
// minutes without progress means the work was lost, not slow. Re-drives
// back off: 5, 10, 20, 40 minutes.
const DefaultStuckAfter = 5 * time.Minute

// Janitor works on the store and queue of one set of pipeline steps.
type Janitor struct {
	Steps *pipeline.Steps
	// StuckAfter is how long a scan may go without a report, and a job
	// object unconsumed, before it is re-driven.
	StuckAfter time.Duration
	// Retention deletes finished scans' records older than this; 0 keeps them.
	Retention time.Duration
	Now       func() time.Time
}

func (j *Janitor) now() time.Time {
	switch {
	case j.Now != nil:
		return j.Now().UTC()
	case j.Steps.Now != nil:
		return j.Steps.Now().UTC()
	}
	return time.Now().UTC()
}

// Run does one pass: redrive → expire (per scan), then requeue. Running it
// twice is harmless: every step it re-drives is idempotent.
func (j *Janitor) Run(ctx context.Context) (*Result, error) {
	res := &Result{}
	scans, err := j.scans(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(scans))
	for id := range scans {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := j.tend(ctx, id, scans[id], res); err != nil {
			return res, err
		}
	}
	if err := j.requeue(ctx, res); err != nil {
		return res, err
	}
	if err := j.retain(ctx, res); err != nil {
		return res, err
	}
	return res, j.expire(ctx, res)
}

// stampOf reads the time a task ID or advisory-DB version starts with.
func stampOf(name string) (time.Time, bool) {
	stamp, _, _ := strings.Cut(name, "-")
	t, err := time.Parse("20060102T150405Z", stamp)
	return t, err == nil
}

// retain applies retention to what outlives scans: tasks (their
// document, log and summary) created before the cutoff, and the reports
// built against an advisory DB superseded before it (every report under
// it is older). Reports against the current DB are kept: they are the
// images' current state.
func (j *Janitor) retain(ctx context.Context, res *Result) error {
	if j.Retention <= 0 {
		return nil
	}
	st := j.Steps.Store
	cutoff := j.now().Add(-j.Retention)
	keys, err := st.List(ctx, storekey.TasksPrefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		id, ok := strings.CutSuffix(strings.TrimPrefix(k, storekey.TasksPrefix), ".json")
		if !ok || !task.ValidID(id) {
			continue
		}
		created, ok := stampOf(id)
		if !ok { // a cycle's task is named by its cycle
			t, err := task.Load(ctx, st, id)
			if err != nil {
				continue
			}
			if created, err = time.Parse(time.RFC3339, t.Created); err != nil {
				continue
			}
		}
		if created.Before(cutoff) {
			if err := task.Delete(ctx, st, id); err != nil {
				return err
			}
			res.DeletedTasks = append(res.DeletedTasks, id)
		}
	}
	// Change records, and the records that de-duplicate notifications (a
	// duplicate job arrives within minutes, not after the retention).
	for _, prefix := range []string{storekey.ChangesPrefix, storekey.NotificationsQueuedPrefix} {
		n, err := j.expireCreated(ctx, prefix, cutoff)
		if err != nil {
			return err
		}
		res.DeletedRecords += n
	}
	reports, err := st.List(ctx, storekey.ReportsPrefix)
	if err != nil {
		return err
	}
	versions := map[string]time.Time{}
	for _, k := range reports {
		if v, ok := reportVersion(k); ok {
			if t, ok := stampOf(v); ok {
				versions[v] = t
			}
		}
	}
	for _, k := range reports {
		v, ok := reportVersion(k)
		if !ok {
			continue
		}
		if superseded(v, versions, cutoff) {
			if err := st.Delete(ctx, k); err != nil {
				return err
			}
			res.DeletedReports++
		}
	}
	return nil
}

// expireCreated deletes the JSON records under prefix whose "created"
// (or their event's) is before cutoff; a delivery's sent marker goes with
// its record.
func (j *Janitor) expireCreated(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	st := j.Steps.Store
	keys, err := st.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		var rec struct {
			ID      string `json:"id"`
			Created string `json:"created"`
			Event   struct {
				Created string `json:"created"`
			} `json:"event"`
		}
		if store.GetJSON(ctx, st, k, &rec) != nil {
			continue
		}
		created := rec.Created
		if created == "" {
			created = rec.Event.Created
		}
		t, err := time.Parse(time.RFC3339, created)
		if err != nil || !t.Before(cutoff) {
			continue
		}
		if err := st.Delete(ctx, k); err != nil {
			return n, err
		}
		if prefix == storekey.NotificationsQueuedPrefix && rec.ID != "" {
			if err := st.Delete(ctx, storekey.NotificationSent(rec.ID)); err != nil {
				return n, err
			}
		}
		n++
	}
	return n, nil
}

// reportVersion is the advisory-DB version a report key is filed under.
func reportVersion(key string) (string, bool) {
	rest := strings.TrimPrefix(key, storekey.ReportsPrefix)
	_, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	v, _, _ := strings.Cut(rest, "/") // a variant lives under the version
	v = strings.TrimSuffix(v, ".json")
	return v, v != ""
}

// superseded: a newer version of the DB was published before the cutoff.
func superseded(v string, versions map[string]time.Time, cutoff time.Time) bool {
	t, ok := versions[v]
	if !ok {
		return false
	}
	for _, u := range versions {
		if u.After(t) && u.Before(cutoff) {
			return true
		}
	}
	return false
}

// expire deletes what only de-duplicates or throttles for a while: the
// notifications seen on past days (two kept), the digests of past windows
// and the throttle slots of past hours.
func (j *Janitor) expire(ctx context.Context, res *Result) error {
	now := j.now()
	keep := map[string]bool{
		storekey.EventsSeenPrefix + now.Format("20060102") + "/":                    true,
		storekey.EventsSeenPrefix + now.Add(-24*time.Hour).Format("20060102") + "/": true,
	}
	window := now.Unix() / int64(DigestWindow/time.Second)
	for _, w := range []int64{window, window - 1} {
		keep[storekey.DigestsQueuedPrefix+fmt.Sprint(w)+"/"] = true
	}
	hours := map[string]bool{now.Format("2006010215"): true, now.Add(-time.Hour).Format("2006010215"): true}
	for _, prefix := range []string{storekey.EventsSeenPrefix, storekey.DigestsQueuedPrefix, storekey.ThrottlePrefix} {
		keys, err := j.Steps.Store.List(ctx, prefix)
		if err != nil {
			return err
		}
		for _, k := range keys {
			dir := k[:strings.LastIndexByte(k, '/')+1]
			if keep[dir] {
				continue
			}
			if prefix == storekey.ThrottlePrefix {
				parts := strings.Split(strings.TrimPrefix(dir, prefix), "/") // registry/hour/
				if len(parts) >= 2 && hours[parts[len(parts)-2]] {
					continue
				}
			}
			if err := j.Steps.Store.Delete(ctx, k); err != nil {
				return err
			}
			res.Expired++
		}
	}
	return nil
}

// DigestWindow must match the suite's: a digest queued within it is not
// queued again.
const DigestWindow = 10 * time.Minute

// scans lists every scan's records by name (storekey.ScanFile).
func (j *Janitor) scans(ctx context.Context) (map[string]map[string]bool, error) {
	keys, err := j.Steps.Store.List(ctx, storekey.ScansPrefix)
	if err != nil {
		return nil, err
	}
	scans := map[string]map[string]bool{}
	for _, k := range keys {
		id, file, ok := storekey.ScanFile(k)
		if !ok {
			continue
		}
		if scans[id] == nil {
			scans[id] = map[string]bool{}
		}
		scans[id][file] = true
	}
	return scans, nil
}

// tend expires a finished scan past retention or re-drives a stuck one.
func (j *Janitor) tend(ctx context.Context, id string, files map[string]bool, res *Result) error {
	st, err := scanrecord.LoadState(ctx, j.Steps.Store, id)
	if errors.Is(err, scanrecord.ErrScanGone) {
		return nil // markers of a scan whose state is gone: retention's leftovers
	}
	if err != nil {
		res.Unreadable = append(res.Unreadable, id)
		j.logf("janitor: scan %s skipped: %v", id, err)
		return nil
	}
	created, _ := time.Parse(time.RFC3339, st.Created)
	age := j.now().Sub(created)
	if files[storekey.ResultFile] {
		if j.Retention <= 0 || age <= j.Retention {
			return nil
		}
		for f := range files {
			if err := j.Steps.Store.Delete(ctx, storekey.Scan(id)+f); err != nil {
				return err
			}
		}
		res.Deleted = append(res.Deleted, id)
		return nil
	}
	if files[storekey.AbandonedFile] {
		return nil
	}
	redrives := 0
	for files[storekey.RedriveDir+fmt.Sprint(redrives)] {
		redrives++
	}
	last, err := j.lastProgress(ctx, st, created, redrives)
	if err != nil {
		return err
	}
	// Back off: each re-drive doubles the wait for progress.
	if j.now().Sub(last) < j.StuckAfter<<redrives {
		return nil
	}
	if redrives >= MaxRedrives {
		reason := fmt.Sprintf("no progress after %d re-drives; last progress %s", redrives, last.Format(time.RFC3339))
		if _, err := j.Steps.Store.PutIfAbsent(ctx, storekey.Abandoned(id), []byte(reason)); err != nil {
			return err
		}
		res.Abandoned = append(res.Abandoned, id)
		j.logf("janitor: scan %s abandoned: %s", id, reason)
		return nil
	}
	if _, err := j.Steps.Store.PutIfAbsent(ctx, storekey.Redrive(id, redrives), []byte(j.now().Format(time.RFC3339))); err != nil {
		return err
	}
	if err := j.Steps.Redrive(ctx, st, func(name string) bool { return files[name] }); err != nil {
		return err
	}
	res.Redriven = append(res.Redriven, id)
	j.logf("janitor: scan %s re-driven after %s without progress", id, j.now().Sub(last).Round(time.Second))
	return nil
}

func (j *Janitor) logf(format string, args ...any) {
	if j.Steps.Progress != nil {
		fmt.Fprintf(j.Steps.Progress, format+"\n", args...)
	}
}

// lastProgress is when the scan last moved: its creation, its newest layer
// marker, or its last re-drive.
func (j *Janitor) lastProgress(ctx context.Context, st scanrecord.State, created time.Time, redrives int) (time.Time, error) {
	last := created
	for diffID := range st.DiffIDs() {
		m, ok, err := scanrecord.LoadMarker(ctx, j.Steps.Store, st.ID, diffID)
		if err != nil {
			return last, err
		}
		if t, err := time.Parse(time.RFC3339, m.Finished); ok && err == nil && t.After(last) {
			last = t
		}
	}
	if redrives > 0 {
		b, err := j.Steps.Store.Get(ctx, storekey.Redrive(st.ID, redrives-1))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return last, err
		}
		if t, err := time.Parse(time.RFC3339, string(b)); err == nil && t.After(last) {
			last = t
		}
	}
	return last, nil
}

// requeue writes job objects older than StuckAfter anew, which triggers
// their function again.
func (j *Janitor) requeue(ctx context.Context, res *Result) error {
	s := j.Steps.Store
	jobs, err := s.List(ctx, storekey.QueuePrefix)
	if err != nil {
		return err
	}
	for _, k := range jobs {
		step, ok := storekey.StepOf(k)
		if !ok {
			continue
		}
		t, ok := storekey.JobCreated(k)
		if !ok || j.now().Sub(t) < j.StuckAfter {
			continue
		}
		b, err := s.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue // consumed meanwhile
		}
		if err != nil {
			return err
		}
		env, err := dispatch.Decode(b, step)
		if err != nil {
			j.logf("janitor: %s is not a job, left alone: %v", k, err)
			continue // its step's function refuses it too; retrying cannot help
		}
		if err := j.Steps.Dispatch.Dispatch(ctx, env); err != nil {
			return fmt.Errorf("requeue %s: %w", k, err)
		}
		if err := s.Delete(ctx, k); err != nil {
			return err
		}
		res.RequeuedJobs = append(res.RequeuedJobs, k)
	}
	return nil
}
