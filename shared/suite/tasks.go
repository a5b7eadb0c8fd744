package suite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/notify"
	"github.com/layerscan/layerscan/shared/quota"
	"github.com/layerscan/layerscan/shared/redact"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/task"
	"github.com/layerscan/layerscan/shared/throttle"
)

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

// Refusals of a scan's admission, answered 429 to an on-demand caller.
var (
	ErrThrottled      = errors.New("the registry's images-per-hour limit is reached: try again next hour")
	ErrQuotaExhausted = errors.New("the purchased image-scan quota of this billing period is used up")
)

// admission is what admitting one image of a task decided.
type admission struct {
	outcome, reason string
	// wait: the registry is throttled; the image stays pending.
	wait bool
	// digest the image resolved to.
	digest string
	conn   *registries.Connection
	// err is the failure behind an ImageFailed outcome, as the registry
	// answered it.
	err error
}

// admitItem applies the settings to one pending image of t: the deadline,
// the per-cycle digest policy, the time range, the registry's throttle
// and the quota, in that order (so a skipped image costs no throttle slot
// and no quota). It writes the decision into the task's log, unless the
// image must wait for its registry's next hour.
func (e *Env) admitItem(ctx context.Context, t *task.Task, i int, s settings.Settings, throttled map[string]bool) (admission, error) {
	it := t.Items[i]
	now := e.now()
	a := admission{outcome: task.Scanning}
	decide := func(outcome, reason string) (admission, error) {
		a.outcome, a.reason = outcome, reason
		won, err := task.Admit(ctx, e.Store, t.ID, i, task.Admission{Outcome: outcome, Reason: reason, At: now.Format(time.RFC3339)})
		if err == nil && !won {
			a.outcome = "" // decided elsewhere
		}
		return a, err
	}
	if now.After(t.DeadlineTime()) {
		return decide(task.Skipped, task.ReasonTimeout)
	}
	if throttled[it.Registry] {
		a.wait = true
		return a, nil
	}
	set, err := e.Live.Set(ctx)
	if err != nil {
		return a, err
	}
	c, ok := set.ByID(it.Registry)
	if !ok {
		return decide(task.ImageFailed, "registry connection "+it.Registry+" no longer exists")
	}
	a.conn = c
	d, err := e.Steps(ctx)
	if err != nil {
		return a, err
	}
	o := source.Apply(d.Registry...)
	a.digest = it.Digest
	if a.digest == "" {
		if a.digest, err = registry.Resolve(ctx, it.Ref(), c.Insecure, o); err != nil {
			a.err = err
			return decide(task.ImageFailed, redact.Printable(err.Error()))
		}
	}
	meter := quota.Meter{Store: e.Store, Period: t.Period, Cycle: t.Cycle, Purchased: s.Quota.Purchased}
	if t.Type == task.Periodic {
		if seen, err := meter.Seen(ctx, a.digest); err != nil {
			return a, err
		} else if seen {
			return decide(task.Skipped, task.ReasonCycle)
		}
	}
	if days := s.Scan.TimeRangeDays; days > 0 && (t.Type == task.Periodic || t.Type == task.ScanNow) {
		updated, known, err := e.updatedAt(ctx, it, a.digest, c, o)
		if err != nil {
			a.err = err
			return decide(task.ImageFailed, redact.Printable(err.Error()))
		}
		if known && now.Sub(updated) > time.Duration(days)*24*time.Hour {
			return decide(task.Skipped, fmt.Sprintf("%s (%d days; updated %s)", task.ReasonTimeRange, days, updated.Format(time.DateOnly)))
		}
	}
	if ok, err := throttle.Take(ctx, e.Store, c.ID, c.Throttle(), now); err != nil {
		return a, err
	} else if !ok {
		throttled[it.Registry] = true
		a.wait = true
		return a, nil
	}
	switch dec, err := meter.Admit(ctx, a.digest, now); {
	case err != nil:
		return a, err
	case dec == quota.Exhausted:
		e.quotaEvent(ctx, notify.QuotaUsedUp, t.Period, s, *s.Quota.Purchased)
		return decide(task.QuotaExhausted, ErrQuotaExhausted.Error())
	case dec == quota.Consumed && s.Quota.Purchased != nil && len(s.Notifications) > 0:
		e.quotaNearlyUsed(ctx, t.Period, s, meter)
	}
	return decide(task.Scanning, "")
}

// updatedAt is when an image was last updated: the registry listing's
// push time, else the image config's creation time; known is false for
// an image with neither.
func (e *Env) updatedAt(ctx context.Context, it task.Item, digest string, c *registries.Connection, o source.Options) (time.Time, bool, error) {
	if t, err := time.Parse(time.RFC3339, it.Updated); err == nil {
		return t, true, nil
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	ref := source.Ref{Kind: source.KindRegistry, Location: it.Host + "/" + it.Repository + "@" + digest, Insecure: c.Insecure}
	a, err := d.Sources.Open(ctx, ref, o)
	if err != nil {
		return time.Time{}, false, err
	}
	images, err := source.Select(a, o)
	if err != nil || len(images) == 0 {
		return time.Time{}, false, err
	}
	cfg, err := images[0].Image.ConfigFile()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: config: %w", ref.Location, err)
	}
	if cfg.Created.IsZero() || cfg.Created.Unix() <= 0 {
		return time.Time{}, false, nil // reproducible builds date images 1970
	}
	return cfg.Created.UTC(), true, nil
}

// advance admits the pending images of a task and queues the admitted
// ones; it returns the task's view and the images it started, and closes
// a task that has finished.
func (e *Env) advance(ctx context.Context, t *task.Task, s settings.Settings) (*task.View, []string, error) {
	v, err := task.Read(ctx, e.Store, t)
	if err != nil {
		return nil, nil, err
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, nil, err
	}
	var started []string
	throttled := map[string]bool{}
	for _, en := range v.Log {
		if en.Status == task.Scanning {
			if err := e.settleStarted(ctx, t, en); err != nil {
				return nil, started, err
			}
			continue
		}
		if en.Status != task.Pending {
			continue
		}
		a, err := e.admitItem(ctx, t, en.Item, s, throttled)
		if err != nil {
			return nil, started, err
		}
		if a.wait || a.outcome != task.Scanning {
			continue
		}
		it := t.Items[en.Item]
		pinned := it.Host + "/" + it.Repository + "@" + a.digest
		req := scanrecord.Request{
			Source: source.Ref{Kind: source.KindRegistry, Location: pinned, Insecure: a.conn.Insecure}, AllPlatforms: true,
			Trigger: t.Type, Tag: it.Tag, Task: &scanrecord.TaskRef{ID: t.ID, Item: en.Item},
		}
		if err := d.Submit(ctx, req); err != nil {
			return nil, started, err
		}
		started = append(started, pinned)
	}
	if v, err = task.Read(ctx, e.Store, t); err != nil {
		return nil, started, err
	}
	if err := task.Close(ctx, e.Store, v); err != nil {
		return nil, started, err
	}
	e.taskEvent(ctx, v)
	return v, started, nil
}

// taskEvent tells the targets of a task that ended failed, partly failed
// or timed out (once per task).
func (e *Env) taskEvent(ctx context.Context, v *task.View) {
	if v.Status != task.Failed && v.Status != task.PartiallyFailed && v.Status != task.TimedOut {
		return
	}
	var lines []string
	for _, en := range v.Log {
		if en.Status == task.ImageFailed && len(lines) < topFindings {
			lines = append(lines, "- "+en.Image+": "+en.Reason)
		}
	}
	c := v.Counts
	e.emit(ctx, notify.Event{
		ID: "task-failed/" + v.ID, Kind: notify.TaskFailed, Task: v.ID,
		Title:  fmt.Sprintf("layerscan: %s task %s", v.Type, v.Status),
		Detail: fmt.Sprintf("%d images: %d succeeded, %d failed, %d skipped.\n%s", c.Total, c.Succeeded, c.Failed, c.Skipped, strings.Join(lines, "\n")),
	})
}

// settleStarted ends, after the task's deadline, the log entry of an
// image that was started but will not finish by itself: one never planned
// (its scan-image job was lost or kept failing), or whose scans the
// janitor abandoned. Without this such a task would run for ever.
func (e *Env) settleStarted(ctx context.Context, t *task.Task, en task.Entry) error {
	now := e.now()
	if !now.After(t.DeadlineTime()) {
		return nil
	}
	if t.Type == task.Fix {
		// Create-once: a fix that finishes meanwhile stands.
		return task.Fixed(ctx, e.Store, t.ID, en.Item, task.FixOutcome{Status: task.ImageFailed, Reason: "the fix did not finish by the task timeout", At: now.Format(time.RFC3339)})
	}
	if len(en.ScanIDs) == 0 {
		return task.PlanFailed(ctx, e.Store, t.ID, en.Item, errors.New("the image was started but not planned by the task timeout"), now)
	}
	if t.Type == task.Rematch {
		// A re-match rebuilds a finished scan's report: its batch job was
		// lost. Create-once: a result written meanwhile stands.
		for _, id := range en.ScanIDs {
			r := task.ScanResult{ScanID: id, Errors: []string{"not re-matched by the task timeout"}, At: now.Format(time.RFC3339)}
			if err := task.Finished(ctx, e.Store, t.ID, en.Item, r); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range en.ScanIDs {
		p, err := scanrecord.ReadProgress(ctx, e.Store, id)
		if errors.Is(err, scanrecord.ErrScanGone) || err == nil && p.Status == "abandoned" {
			cause := "the scan was abandoned"
			if p != nil && p.Error != "" {
				cause += ": " + p.Error
			}
			if err := task.Finished(ctx, e.Store, t.ID, en.Item, task.ScanResult{ScanID: id, Errors: []string{cause}, At: now.Format(time.RFC3339)}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// quotaEvent tells the targets, once per billing period, that the quota
// is nearly (90%) or fully used.
func (e *Env) quotaEvent(ctx context.Context, kind, period string, s settings.Settings, consumed int) {
	e.emitTo(ctx, s, quotaNotice(kind, period, s, consumed))
}

// quotaNotice is the event of a quota threshold crossed in the period.
func quotaNotice(kind, period string, s settings.Settings, consumed int) notify.Event {
	title := "layerscan: the image-scan quota is used up"
	if kind == notify.QuotaNearlyUsed {
		title = "layerscan: the image-scan quota is nearly used up"
	}
	return notify.Event{
		ID: kind + "/" + period, Kind: kind, Title: title,
		Detail: fmt.Sprintf("Billing period %s: %d of %d image scans used.", period, consumed, *s.Quota.Purchased),
	}
}

// quotaNearlyUsed emits the 90% event when the period's units reach it.
// Counting them lists the period's slots, so it is skipped once the
// period's event is queued for every target.
func (e *Env) quotaNearlyUsed(ctx context.Context, period string, s settings.Settings, meter quota.Meter) {
	if done, err := e.sender(s).Emitted(ctx, quotaNotice(notify.QuotaNearlyUsed, period, s, 0), s.Notifications); err == nil && done {
		return
	}
	if n, err := meter.Consumed(ctx); err == nil && n*10 >= *s.Quota.Purchased*9 {
		e.quotaEvent(ctx, notify.QuotaNearlyUsed, period, s, n)
	}
}
