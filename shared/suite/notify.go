package suite

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/layerscan/layerscan/shared/changes"
	"github.com/layerscan/layerscan/shared/netguard"
	"github.com/layerscan/layerscan/shared/notify"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/task"
)

// targetPolicy lets deliveries reach only the targets' hosts, and private
// addresses only for a target that allows them.
type targetPolicy []notify.Target

func (p targetPolicy) host(host string) (notify.Target, bool) {
	for _, t := range p {
		if u, err := url.Parse(t.URL); err == nil && strings.EqualFold(u.Host, host) {
			return t, true
		}
	}
	return notify.Target{}, false
}

func (p targetPolicy) Reachable(host string) bool { _, ok := p.host(host); return ok }
func (p targetPolicy) Named(host string) bool     { t, ok := p.host(host); return ok && t.AllowPrivate }

// sender delivers to the targets of s, through the network guard.
func (e *Env) sender(s settings.Settings) *notify.Sender {
	g := &netguard.Guard{Policy: targetPolicy(s.Notifications), Resolver: e.Guard.Resolver, Dial: e.Guard.Dial}
	return &notify.Sender{
		Store: e.Store, Client: &http.Client{Transport: g.Transport()}, Secrets: e.Registries.Secrets, Now: e.now,
		Failed: func(ctx context.Context, d notify.Delivery) {
			e.Log.Printf("notification %s to %s: given up after %d attempts: %s", d.ID, d.Target, d.Attempts, d.Error)
			if d.Event.Task != "" {
				task.Notice(ctx, e.Store, d.Event.Task, fmt.Sprintf("notification %s to %s failed after %d attempts: %s", d.Event.Kind, d.Target, d.Attempts, d.Error))
			}
		},
	}
}

// emit sends an event to the targets of the current settings; a delivery
// that fails is retried by the janitor, so only the store's errors count.
func (e *Env) emit(ctx context.Context, ev notify.Event) {
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		e.Log.Printf("notify %s: %v", ev.ID, err)
		return
	}
	e.emitTo(ctx, s, ev)
}

// emitTo sends an event to the targets of s.
func (e *Env) emitTo(ctx context.Context, s settings.Settings, ev notify.Event) {
	if len(s.Notifications) == 0 {
		return
	}
	if err := e.sender(s).Emit(ctx, ev, s.Notifications); err != nil {
		e.Log.Printf("notify %s: %v (retried by the janitor)", ev.ID, err)
	}
}

// topFindings is how many findings a message lists.
const topFindings = 10

// reported emits the events of a new report: scan-finished for a scan,
// new-vulnerability for vulnerabilities a re-report added. The targets
// are those of the settings the report was built under, and nothing is
// built without one.
func (e *Env) reported(ctx context.Context, w pipeline.Written) {
	r, c, t, scanID, rematch, s := w.Report, w.Change, w.Task, w.ScanID, w.Rematch, w.Settings
	if len(s.Notifications) == 0 {
		return
	}
	img := &notify.Image{Ref: r.Image.Ref, Digest: r.Image.Digest}
	taskID := ""
	if t != nil {
		taskID = t.ID
	}
	if !rematch {
		ev := notify.Event{ID: "scan-finished/" + scanID, Kind: notify.ScanFinished, Image: img, Task: taskID, Counts: map[scan.Severity]int{}}
		ev.Title = "layerscan: scanned " + r.Image.Ref
		for _, f := range r.Findings {
			if !f.Whitelisted {
				ev.Counts[f.Severity]++
				if len(ev.Findings) < topFindings {
					ev.Findings = append(ev.Findings, changes.Finding{Category: f.Category, ID: f.ID, Severity: f.Severity, Path: f.Path})
				}
			}
		}
		if !r.Complete {
			ev.Detail = "The report is incomplete: " + strings.Join(r.Errors, "; ")
		}
		e.emitTo(ctx, s, ev)
	}
	if c == nil {
		return
	}
	var added []changes.Finding
	for _, f := range c.Added {
		if f.Category == scan.SystemVulnerability || f.Category == scan.ApplicationVulnerability {
			added = append(added, f)
		}
	}
	if len(added) == 0 {
		return
	}
	ev := notify.Event{
		ID: "new-vulnerability/" + c.Digest + "/" + c.To + "/" + c.Policy, Kind: notify.NewVulnerability, Image: img, Task: taskID,
		Title:  fmt.Sprintf("layerscan: %d new vulnerabilit%s in %s", len(added), map[bool]string{true: "y", false: "ies"}[len(added) == 1], r.Image.Ref),
		Counts: map[scan.Severity]int{}, Detail: fmt.Sprintf("Advisory DB %s (was %s).", c.To, c.From),
	}
	for _, f := range added {
		ev.Counts[f.Severity]++
	}
	ev.Findings = added[:min(len(added), topFindings)]
	e.emitTo(ctx, s, ev)
}
