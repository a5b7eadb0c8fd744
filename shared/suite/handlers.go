package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/event"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/store"
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
	Detail  any      `json:"detail,omitempty"`
}

// StepWorker runs the job objects of one step that a store notification
// (FC OSS trigger, S3 notification) announces. It is the whole of the
// scan-image, analyze-layer and build-report functions.
func (e *Env) StepWorker(step string) func(ctx context.Context, body []byte) ([]byte, error) {
	return func(ctx context.Context, body []byte) ([]byte, error) {
		ev, err := event.Parse(body, event.Options{})
		if err != nil {
			return nil, badEvent(err)
		}
		if ev.Kind != event.OSSObjects && ev.Kind != event.S3Objects {
			return nil, BadEvent{fmt.Errorf("%s takes store notifications of queue/%s/ objects, not %s events", step, step, ev.Kind)}
		}
		d, err := e.Deps(ctx)
		if err != nil {
			return nil, err
		}
		out := &Outcome{Ignored: ev.Ignored}
		for _, o := range ev.Objects {
			key, ok := store.KeyOf(e.Store, o.Bucket, o.Key)
			if !ok {
				return nil, BadEvent{fmt.Errorf("object %s/%s is not in this function's store (%s)", o.Bucket, o.Key, e.Config.Store)}
			}
			if s, ok := dispatch.StepOf(key); !ok || s != step {
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

var registryKinds = map[event.Kind]bool{
	event.ACREventBridge: true, event.ACRWebhook: true, event.Harbor: true,
	event.Distribution: true, event.ECREventBridge: true,
}

// RegistryEvent turns one push notification into scan-image jobs. Tags are
// resolved to digests first: nothing is written for an image whose digest
// cannot be known.
func (e *Env) RegistryEvent(ctx context.Context, body []byte) (*Outcome, error) {
	ev, err := event.Parse(body, event.Options{ACRRegistry: e.Config.ACRRegistry})
	if err != nil {
		return nil, badEvent(err)
	}
	if !registryKinds[ev.Kind] {
		return nil, BadEvent{fmt.Errorf("registry-events takes registry push notifications, not %s events", ev.Kind)}
	}
	d, err := e.Deps(ctx)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Ignored: ev.Ignored}
	type planned struct {
		ref string
		req pipeline.ScanRequest
	}
	var todo []planned
	for _, img := range ev.Images {
		insecure := e.Config.insecure(img.Registry)
		if img.Digest == "" {
			digest, err := registry.Resolve(ctx, img.Ref(), insecure, d.Registry)
			if err != nil {
				return nil, fmt.Errorf("resolve %s: %w", img.Ref(), err)
			}
			img.Digest = digest
		}
		src := registry.Source{Kind: registry.KindRegistry, Location: img.Ref(), Insecure: insecure}
		todo = append(todo, planned{img.Ref(), pipeline.ScanRequest{Source: src, AllPlatforms: true, Trigger: string(ev.Kind)}})
	}
	for _, p := range todo {
		job, _ := json.Marshal(p.req)
		if err := d.Dispatch.Dispatch(ctx, pipeline.StepScanImage, job); err != nil {
			return nil, err
		}
		out.Images = append(out.Images, p.ref)
	}
	e.Log.Printf("registry-events: %s event %s: %d image(s) queued %s", ev.Kind, ev.ID, len(out.Images), ev.Ignored)
	return out, nil
}

// SyncAdvisories publishes the current signatures and a new advisory DB
// (from the mirror folder when configured, else the public feeds).
func (e *Env) SyncAdvisories(ctx context.Context, body []byte) ([]byte, error) {
	if len(strings.TrimSpace(string(body))) > 0 {
		if _, err := event.Parse(body, event.Options{}); err != nil {
			return nil, badEvent(err)
		}
	}
	d, err := e.Deps(ctx)
	if err != nil {
		return nil, err
	}
	set, err := d.SyncSignatures(ctx, "")
	if err != nil {
		return nil, err
	}
	m, err := d.SyncAdvisories(ctx, e.Config.AdvisoryMirror)
	if err != nil {
		return nil, err
	}
	return json.Marshal(&Outcome{Detail: map[string]any{"advisoryDB": m.Version, "ecosystems": len(m.Ecosystems), "signatures": set.Version}})
}

// Janitor re-drives stuck scans and applies retention.
func (e *Env) Janitor(ctx context.Context, body []byte) ([]byte, error) {
	if len(strings.TrimSpace(string(body))) > 0 {
		if _, err := event.Parse(body, event.Options{}); err != nil {
			return nil, badEvent(err)
		}
	}
	d, err := e.Deps(ctx)
	if err != nil {
		return nil, err
	}
	res, err := d.Janitor(ctx, e.Config.StuckAfter, time.Duration(e.Config.RetentionDays)*24*time.Hour)
	if err != nil {
		return nil, err
	}
	return json.Marshal(&Outcome{Detail: res})
}
