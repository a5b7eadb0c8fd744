// Package notify delivers notifications to the targets of the settings:
// DingTalk chatbots (each message signed as DingTalk documents) and HTTP
// endpoints (a versioned JSON payload with an HMAC-SHA256 signature over
// the timestamp and the body). Delivery is at least once through an outbox
// in the store: one create-once item per (event, target), so a duplicate
// or reordered job that emits the same event again sends nothing more;
// failed attempts are retried with backoff by the janitor, and after the
// last one the item becomes a dead letter. docs/notifications.md
// documents the payload and how receivers verify it.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/changes"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Schema versions the HTTP payload.
const Schema = "layerscan.notification/v1"

// Event kinds a target can ask for.
const (
	ScanFinished     = "scan-finished"
	NewVulnerability = "new-vulnerability"
	QuotaNearlyUsed  = "quota-nearly-used"
	QuotaUsedUp      = "quota-used-up"
	TaskFailed       = "task-failed"
)

// Kinds lists every event kind.
var Kinds = []string{ScanFinished, NewVulnerability, QuotaNearlyUsed, QuotaUsedUp, TaskFailed}

// Target kinds.
const (
	DingTalk = "dingtalk"
	HTTP     = "http"
)

// Target is one notification target of the settings.
type Target struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// URL is the DingTalk robot's webhook (…/robot/send) or the HTTP(S)
	// endpoint.
	URL string `json:"url"`
	// Token is DingTalk's access_token, kept out of the URL so that it is
	// stored sealed; it may also stay in the URL's query.
	Token *registries.Secret `json:"token,omitempty"`
	// Secret signs every message: DingTalk's "sign" secret (SEC…) or the
	// HMAC key of HTTP targets.
	Secret *registries.Secret `json:"secret,omitempty"`
	// Events the target receives (Kinds); none is every kind.
	Events []string `json:"events,omitempty"`
	// Repositories (host/name, path.Match patterns) whose image events it
	// receives; none is every repository.
	Repositories []string `json:"repositories,omitempty"`
	// MinSeverity of the findings an image event must carry.
	MinSeverity scan.Severity `json:"minSeverity,omitempty"`
	// AllowPrivate lets the target's host resolve to loopback or private
	// addresses (a receiver inside the network); metadata and link-local
	// addresses are refused regardless.
	AllowPrivate bool `json:"allowPrivate,omitempty"`
}

// Validate checks a target; the error names the field.
func (t Target) Validate() error {
	if t.ID == "" || len(t.ID) > 64 || strings.ContainsAny(t.ID, "/ ") {
		return fmt.Errorf("id: %q is not a target ID", t.ID)
	}
	if t.Kind != DingTalk && t.Kind != HTTP {
		return fmt.Errorf("kind: %q is not dingtalk or http", t.Kind)
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("url: %q is not an http(s) URL without credentials", redactURL(t.URL))
	}
	for i, e := range t.Events {
		if !slices.Contains(Kinds, e) {
			return fmt.Errorf("events[%d]: %q is not one of %v", i, e, Kinds)
		}
	}
	for i, p := range t.Repositories {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("repositories[%d]: %v", i, err)
		}
	}
	if t.MinSeverity != "" {
		if _, err := scan.ParseSeverity(string(t.MinSeverity)); err != nil {
			return fmt.Errorf("minSeverity: %v", err)
		}
	}
	return nil
}

// Masked is the target as responses show it: no secret, no query values.
func (t Target) Masked() Target {
	t.URL = redactURL(t.URL)
	t.Token = t.Token.Masked()
	t.Secret = t.Secret.Masked()
	return t
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	for k := range q {
		q.Set(k, "****")
	}
	u.RawQuery = q.Encode()
	u.User = nil
	return u.String()
}

// Event is what happened, as targets receive it.
type Event struct {
	Schema string `json:"schema"`
	// ID identifies the event: the same event emitted twice has one ID.
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Created string `json:"created"`
	Title   string `json:"title"`
	Image   *Image `json:"image,omitempty"`
	Task    string `json:"task,omitempty"`
	// Counts of the image's findings (scan-finished) or of those added
	// (new-vulnerability), by severity.
	Counts map[scan.Severity]int `json:"counts,omitempty"`
	// Findings are the top findings, highest severity first.
	Findings []changes.Finding `json:"findings,omitempty"`
	Detail   string            `json:"detail,omitempty"`
}

// Image names the image of an image event.
type Image struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
}

// maxSeverity is the highest severity of the event's findings.
func (e Event) maxSeverity() scan.Severity {
	best := scan.Severity("")
	for s, n := range e.Counts {
		if n > 0 && (best == "" || s.Rank() > best.Rank()) {
			best = s
		}
	}
	return best
}

// wants reports whether the target receives the event.
func (t Target) wants(e Event) bool {
	if len(t.Events) > 0 && !slices.Contains(t.Events, e.Kind) {
		return false
	}
	if e.Image != nil && len(t.Repositories) > 0 {
		repo := e.Image.Ref
		if i := strings.IndexAny(repo, "@"); i >= 0 {
			repo = repo[:i]
		}
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		if !slices.ContainsFunc(t.Repositories, func(p string) bool { ok, _ := path.Match(p, repo); return ok }) {
			return false
		}
	}
	if t.MinSeverity != "" && e.Image != nil {
		min, _ := scan.ParseSeverity(string(t.MinSeverity))
		if e.maxSeverity() == "" || e.maxSeverity().Rank() < min.Rank() {
			return false
		}
	}
	return true
}

// Delivery is an outbox item: one event for one target.
type Delivery struct {
	ID       string `json:"id"`
	Target   string `json:"target"`
	Event    Event  `json:"event"`
	Attempts int    `json:"attempts"`
	Next     string `json:"next"`
	Error    string `json:"error,omitempty"`
}

// MaxAttempts is how often a delivery is tried before it is a dead letter.
const MaxAttempts = 5

// backoff is the wait after the nth failed attempt.
func backoff(n int) time.Duration {
	return []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}[min(n, 4)-1]
}

// Sender emits events and delivers them.
type Sender struct {
	Store store.Store
	// Client carries every delivery: its transport is the network guard.
	Client  *http.Client
	Secrets registries.Secrets
	Now     func() time.Time
	// Failed is told of a delivery that became a dead letter.
	Failed func(ctx context.Context, d Delivery)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func deliveryID(eventID, target string) string {
	sum := sha256.Sum256([]byte(eventID + "\x00" + target))
	return hex.EncodeToString(sum[:12])
}

// Emitted reports whether the event was already queued for every target
// that wants it: an event whose content costs work to compute (a count of
// the quota's units) can then be skipped before that work.
func (s *Sender) Emitted(ctx context.Context, e Event, targets []Target) (bool, error) {
	for _, t := range targets {
		if !t.wants(e) {
			continue
		}
		ok, err := s.Store.Exists(ctx, storekey.NotificationQueued(deliveryID(e.ID, t.ID)))
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Emit queues the event for every target that wants it and tries each new
// delivery at once. An event already emitted for a target is not queued
// again.
func (s *Sender) Emit(ctx context.Context, e Event, targets []Target) error {
	e.Schema = Schema
	if e.Created == "" {
		e.Created = s.now().Format(time.RFC3339)
	}
	var errs []error
	for _, t := range targets {
		if !t.wants(e) {
			continue
		}
		d := Delivery{ID: deliveryID(e.ID, t.ID), Target: t.ID, Event: e, Next: e.Created}
		created, err := store.PutJSONIfAbsent(ctx, s.Store, storekey.NotificationQueued(d.ID), d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if created {
			if err := store.PutJSON(ctx, s.Store, storekey.Notification(d.ID), d); err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, s.attempt(ctx, d, t))
		}
	}
	return errors.Join(errs...)
}

// Retry tries the deliveries that are due; a delivery whose target was
// removed from the settings becomes a dead letter.
func (s *Sender) Retry(ctx context.Context, targets []Target) (sent, failed int, err error) {
	keys, err := s.Store.List(ctx, storekey.Outbox)
	if err != nil {
		return 0, 0, err
	}
	now := s.now().Format(time.RFC3339)
	for _, k := range keys {
		var d Delivery
		if err := store.GetJSON(ctx, s.Store, k, &d); err != nil || d.ID == "" || d.Next > now {
			continue
		}
		i := slices.IndexFunc(targets, func(t Target) bool { return t.ID == d.Target })
		if i < 0 {
			d.Error = "the target is no longer in the settings"
			if err := s.dead(ctx, d); err != nil {
				return sent, failed, err
			}
			failed++
			continue
		}
		if err := s.attempt(ctx, d, targets[i]); err != nil {
			failed++
		} else {
			sent++
		}
	}
	return sent, failed, nil
}

// attempt delivers once. A lease per attempt keeps two instances from
// sending the same attempt; a delivery sent but not yet recorded may be
// sent again (at least once).
func (s *Sender) attempt(ctx context.Context, d Delivery, t Target) error {
	won, err := s.Store.PutIfAbsent(ctx, storekey.NotificationLease(d.ID, d.Attempts), []byte(s.now().Format(time.RFC3339)))
	if err != nil || !won {
		return err
	}
	if sent, err := s.Store.Exists(ctx, storekey.NotificationSent(d.ID)); err != nil || sent {
		if sent {
			return s.Store.Delete(ctx, storekey.Notification(d.ID))
		}
		return err
	}
	serr := s.send(ctx, t, d)
	if serr == nil {
		if err := s.Store.Put(ctx, storekey.NotificationSent(d.ID), []byte(s.now().Format(time.RFC3339))); err != nil {
			return err
		}
		if err := s.Store.Delete(ctx, storekey.Notification(d.ID)); err != nil {
			return err
		}
		return s.dropLeases(ctx, d.ID)
	}
	d.Attempts++
	d.Error = serr.Error()
	if d.Attempts >= MaxAttempts {
		if err := s.dead(ctx, d); err != nil {
			return err
		}
		return serr
	}
	d.Next = s.now().Add(backoff(d.Attempts)).Format(time.RFC3339)
	if err := store.PutJSON(ctx, s.Store, storekey.Notification(d.ID), d); err != nil {
		return err
	}
	return serr
}

func (s *Sender) dead(ctx context.Context, d Delivery) error {
	if err := store.PutJSON(ctx, s.Store, storekey.NotificationDead(d.ID), d); err != nil {
		return err
	}
	if s.Failed != nil {
		s.Failed(ctx, d)
	}
	if err := s.Store.Delete(ctx, storekey.Notification(d.ID)); err != nil {
		return err
	}
	return s.dropLeases(ctx, d.ID)
}

// dropLeases deletes the attempt leases of a finished delivery: its sent
// marker or dead letter keeps it from being attempted again.
func (s *Sender) dropLeases(ctx context.Context, id string) error {
	keys, err := s.Store.List(ctx, storekey.NotificationLeases(id))
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.Store.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// maxAnswer bounds what a target's answer is read of.
const maxAnswer = 64 << 10

func (s *Sender) send(ctx context.Context, t Target, d Delivery) error {
	var req *http.Request
	var err error
	switch t.Kind {
	case DingTalk:
		req, err = s.dingTalk(ctx, t, d.Event)
	default:
		req, err = s.httpPost(ctx, t, d)
	}
	if err != nil {
		return err
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("target %s: %s", t.ID, redactErr(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("target %s answered %s", t.ID, resp.Status)
	}
	if t.Kind == DingTalk {
		// DingTalk answers 200 with an error code in the body.
		var a struct {
			Code int    `json:"errcode"`
			Msg  string `json:"errmsg"`
		}
		if json.Unmarshal(body, &a) != nil || a.Code != 0 {
			return fmt.Errorf("target %s: DingTalk errcode %d %q", t.ID, a.Code, a.Msg)
		}
	}
	return nil
}

// redactErr drops the URL (whose query may hold a token) from a client error.
func redactErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + redactURL(ue.URL) + ": " + ue.Err.Error()
	}
	return err.Error()
}

// DingTalkSign is DingTalk's signature of a timestamp (milliseconds):
// base64(HMAC-SHA256(secret, timestamp + "\n" + secret)).
func DingTalkSign(secret string, timestampMillis int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestampMillis, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (s *Sender) dingTalk(ctx context.Context, t Target, e Event) (*http.Request, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	if t.Token != nil {
		tok, err := s.Secrets.Reveal(t.Token)
		if err != nil {
			return nil, fmt.Errorf("target %s token: %w", t.ID, err)
		}
		q.Set("access_token", tok)
	}
	if t.Secret != nil {
		sec, err := s.Secrets.Reveal(t.Secret)
		if err != nil {
			return nil, fmt.Errorf("target %s secret: %w", t.ID, err)
		}
		ts := s.now().UnixMilli()
		q.Set("timestamp", strconv.FormatInt(ts, 10))
		q.Set("sign", DingTalkSign(sec, ts))
	}
	u.RawQuery = q.Encode()
	body, _ := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": e.Title, "text": Markdown(e)}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// HTTP headers of HTTP targets.
const (
	HeaderSignature = "X-Layerscan-Signature"
	HeaderTimestamp = "X-Layerscan-Timestamp"
	HeaderDelivery  = "X-Layerscan-Delivery"
)

// Sign is the signature of an HTTP delivery: "sha256=" and the hex
// HMAC-SHA256 of timestamp + "." + body, keyed by the target's secret.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Sender) httpPost(ctx context.Context, t Target, d Delivery) (*http.Request, error) {
	body, err := json.Marshal(d.Event)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderDelivery, d.ID)
	if t.Secret != nil {
		sec, err := s.Secrets.Reveal(t.Secret)
		if err != nil {
			return nil, fmt.Errorf("target %s secret: %w", t.ID, err)
		}
		req.Header.Set(HeaderSignature, Sign(sec, ts, body))
	}
	return req, nil
}

// Markdown is the DingTalk message of an event: the image, counts by
// severity and the top findings.
func Markdown(e Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", e.Title)
	if e.Image != nil {
		fmt.Fprintf(&b, "- image: `%s`\n- digest: `%s`\n", e.Image.Ref, e.Image.Digest)
	}
	if len(e.Counts) > 0 {
		var parts []string
		for _, sev := range scan.Severities {
			if n := e.Counts[sev]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", sev, n))
			}
		}
		fmt.Fprintf(&b, "- findings: %s\n", strings.Join(parts, ", "))
	}
	if e.Task != "" {
		fmt.Fprintf(&b, "- task: `%s`\n", e.Task)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, "\n%s\n", e.Detail)
	}
	for i, f := range e.Findings {
		if i == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d. **%s** %s %s %s\n", i+1, f.Severity, f.ID, f.Package, f.Path)
	}
	return b.String()
}

// Test sends a test message to t now, neither queued nor retried, and
// answers whether the target took it (the console's "send test" button).
func (s *Sender) Test(ctx context.Context, t Target) error {
	now := s.now()
	e := Event{Schema: Schema, ID: "test/" + t.ID + "/" + now.Format("20060102T150405Z"), Kind: "test", Created: now.Format(time.RFC3339),
		Title: "layerscan: test notification", Detail: "This target receives layerscan's notifications."}
	return s.send(ctx, t, Delivery{ID: e.ID, Target: t.ID, Event: e, Attempts: 1})
}
