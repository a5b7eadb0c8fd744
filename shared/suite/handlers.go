package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/event"
	"github.com/layerscan/layerscan/shared/janitor"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
	"github.com/layerscan/layerscan/shared/updater"
)

// BadEvent marks input the function cannot take: FC records it as errorType
// BadEvent, and HTTP triggers answer it with 400.
type BadEvent struct{ Err error }

func (b BadEvent) Error() string     { return b.Err.Error() }
func (b BadEvent) Unwrap() error     { return b.Err }
func (b BadEvent) ErrorType() string { return "BadEvent" }

func badEvent(err error) error {
	if errors.Is(err, event.ErrBadEvent) {
		return BadEvent{err}
	}
	return err
}

// Outcome is what a handler answers.
type Outcome struct {
	Ignored string   `json:"ignored,omitempty"`
	Jobs    []string `json:"jobs,omitempty"`
	Images  []string `json:"images,omitempty"`
	ScanIDs []string `json:"scanIDs,omitempty"`
	// Task is the task the images belong to.
	Task   string `json:"task,omitempty"`
	Detail any    `json:"detail,omitempty"`
}

// StepWorker runs the job objects of one step that a store notification
// (FC OSS trigger, S3 notification) announces. It is the whole of the
// scan-image, analyze-layer and build-report functions.
func (e *Env) StepWorker(step string) func(ctx context.Context, body []byte) ([]byte, error) {
	return func(ctx context.Context, body []byte) ([]byte, error) {
		ev, err := event.ParseObjects(body)
		if err != nil {
			return nil, BadEvent{fmt.Errorf("%s takes store notifications of queue/%s/ objects: %w", step, step, err)}
		}
		d, err := e.Steps(ctx)
		if err != nil {
			return nil, err
		}
		out := &Outcome{Ignored: ev.Ignored}
		for _, o := range ev.Objects {
			key, ok := store.KeyOf(e.Store, o.Bucket, o.Key)
			if !ok {
				return nil, BadEvent{fmt.Errorf("object %s/%s is not in this function's store (%s)", o.Bucket, o.Key, e.Config.Store)}
			}
			if s, ok := storekey.StepOf(key); !ok || s != step {
				return nil, BadEvent{fmt.Errorf("%s is not a %s job object: check the trigger's prefix filter (queue/%s/)", key, step, step)}
			}
			if err := d.RunQueued(ctx, key); err != nil {
				return nil, err
			}
			out.Jobs = append(out.Jobs, key)
		}
		return json.Marshal(out)
	}
}

// queuePush turns one authenticated push notification into a push task.
// Tags are resolved to digests first: nothing is written for an image
// whose digest cannot be known. A replayed notification queues nothing; a
// digest queued within DigestWindow is logged as a duplicate; images
// outside the scan scope are left out.
func (e *Env) queuePush(ctx context.Context, ev *event.Event, body []byte) (*Outcome, error) {
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Ignored: ev.Ignored}
	if len(ev.Images) == 0 {
		return out, nil
	}
	first, err := e.firstDelivery(ctx, ev, body)
	if err != nil {
		return nil, err
	}
	if !first {
		out.Ignored = "a replay or duplicate delivery of notification " + ev.ID
		e.Log.Printf("registry-events: %s event %s: %s", ev.Kind, ev.ID, out.Ignored)
		return out, nil
	}
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	var items []task.Item
	var skip []string // a reason per item, "" to admit
	outside := 0
	for _, img := range ev.Images {
		c, err := e.admit(ctx, img.Registry)
		if err != nil {
			return nil, err
		}
		host, repo, err := registry.Split(img.Ref())
		if err != nil {
			return nil, BadEvent{err}
		}
		if !s.Scan.InScope(settings.Connection{ID: c.ID, Hosts: c.Hosts}, repo, img.Tag) {
			outside++
			continue
		}
		if img.Digest == "" {
			digest, err := registry.Resolve(ctx, img.Ref(), c.Insecure, source.Apply(d.Registry...))
			if err != nil {
				return nil, fmt.Errorf("resolve %s: %w", img.Ref(), err)
			}
			img.Digest = digest
		}
		fresh, err := e.digestFresh(ctx, img.Digest)
		if err != nil {
			return nil, err
		}
		reason := ""
		switch {
		case !s.Scan.ScanOnDigestChange:
			reason = task.ReasonDigestPolicy
		case !fresh:
			reason = task.ReasonDuplicatePush
		}
		items = append(items, task.Item{Registry: c.ID, Host: host, Repository: repo, Tag: img.Tag, Digest: img.Digest})
		skip = append(skip, reason)
	}
	if outside > 0 {
		out.Ignored = strings.TrimSpace(out.Ignored + fmt.Sprintf(" %d image(s) outside the scan scope", outside))
	}
	if len(items) == 0 {
		return out, nil
	}
	t := e.newTask(s, task.Push, fmt.Sprintf("%s event %s", ev.Kind, ev.ID), "pushed images", items)
	if _, err := task.Create(ctx, e.Store, t); err != nil {
		return nil, err
	}
	for i, reason := range skip {
		if reason != "" {
			if _, err := task.Admit(ctx, e.Store, t.ID, i, task.Admission{Outcome: task.Skipped, Reason: reason, At: e.now().Format(time.RFC3339)}); err != nil {
				return nil, err
			}
		}
	}
	v, started, err := e.advance(ctx, t, s)
	if err != nil {
		return nil, err
	}
	out.Task, out.Images = t.ID, started
	if v.Counts.Pending > 0 {
		out.Ignored = strings.TrimSpace(out.Ignored + fmt.Sprintf(" %d image(s) throttled by the registry's images-per-hour limit: they start when it allows, within the task's timeout", v.Counts.Pending))
	}
	e.Log.Printf("registry-events: %s event %s: task %s, %d image(s) queued %s", ev.Kind, ev.ID, t.ID, len(out.Images), ev.Ignored)
	return out, nil
}

// SyncAdvisories publishes the current signatures and a new advisory DB
// (from the mirror folder when configured, else the public feeds), then
// starts the re-match of stored images against it.
func (e *Env) SyncAdvisories(ctx context.Context, body []byte) ([]byte, error) {
	if _, err := event.ParseTimer(body); err != nil {
		return nil, badEvent(err)
	}
	u := &updater.Updater{Store: e.Store, Progress: e.Log.Writer()}
	set, err := u.SyncSignatures(ctx, "")
	if err != nil {
		return nil, err
	}
	m, err := u.SyncAdvisories(ctx, e.Config.AdvisoryMirror)
	if err != nil {
		return nil, err
	}
	// A new DB re-reports every stored image in scope from its facts.
	v, err := e.StartRematch(ctx)
	if err != nil {
		return nil, fmt.Errorf("rematch: %w", err)
	}
	return json.Marshal(&Outcome{Task: v.ID, Detail: map[string]any{"advisoryDB": m.Version, "ecosystems": len(m.Ecosystems), "signatures": set.Version, "rematch": v.Counts.Total}})
}

// Janitor re-drives stuck scans, applies retention and retries the
// notification deliveries that are due.
func (e *Env) Janitor(ctx context.Context, body []byte) ([]byte, error) {
	if _, err := event.ParseTimer(body); err != nil {
		return nil, badEvent(err)
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	days := e.Config.RetentionDays // the environment's, unless the settings set one
	if s.Scan.RetentionDays > 0 {
		days = s.Scan.RetentionDays
	}
	j := &janitor.Janitor{Steps: d, StuckAfter: e.Config.StuckAfter, Retention: time.Duration(days) * 24 * time.Hour}
	res, err := j.Run(ctx)
	if err != nil {
		return nil, err
	}
	sent, failed, err := e.sender(s).Retry(ctx, s.Notifications)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return json.Marshal(&Outcome{Detail: map[string]any{"janitor": res, "notificationsSent": sent, "notificationsFailed": failed}})
}
