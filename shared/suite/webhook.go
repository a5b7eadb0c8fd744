package suite

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/event"
	"github.com/layerscan/layerscan/shared/janitor"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/storekey"
)

// Unauthenticated marks a notification that does not prove its sender
// (401).
type Unauthenticated struct{ Err error }

func (u Unauthenticated) Error() string     { return u.Err.Error() }
func (u Unauthenticated) Unwrap() error     { return u.Err }
func (u Unauthenticated) ErrorType() string { return "Unauthenticated" }

// Limits on what one notification may ask for.
const (
	// MaxImagesPerEvent refuses notifications that list more images: a
	// push notifies of a few; one body of 3,000 images is an attack.
	MaxImagesPerEvent = 50
	// DigestWindow: a digest queued by a notification is not queued again
	// by another within this window (replays, duplicate deliveries).
	DigestWindow = janitor.DigestWindow
)

// platformKinds arrive on /invoke from EventBridge, which only the
// account's own rules can invoke: the platform authenticates them.
var platformKinds = map[event.Kind]bool{event.ACREventBridge: true, event.ECREventBridge: true}

// proves checks that a webhook request carries the connection's secret.
func (e *Env) proves(r *http.Request, body []byte, c *registries.Connection) error {
	var secret string
	switch w := c.Webhook; {
	case w != nil && w.Secret != nil:
		s, err := e.Registries.Secrets.Reveal(w.Secret)
		if err != nil {
			return fmt.Errorf("registry %s: webhook secret: %w", c.ID, err)
		}
		secret = s
	case e.Config.WebhookToken != "":
		secret = e.Config.WebhookToken
	case w != nil && w.AllowUnauthenticated:
		return nil
	default:
		return Unauthenticated{fmt.Errorf("registry %s has no webhook secret: set webhook.secret on its connection (or webhook.allowUnauthenticated)", c.ID)}
	}
	eq := func(got string) bool {
		return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1
	}
	auth := r.Header.Get("Authorization")
	if eq(r.URL.Query().Get("token")) || eq(auth) || eq(strings.TrimPrefix(auth, "Bearer ")) {
		return nil
	}
	for _, h := range []string{"X-Layerscan-Signature", "X-Hub-Signature-256"} {
		if sig, ok := strings.CutPrefix(r.Header.Get(h), "sha256="); ok {
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write(body)
			if want := hex.EncodeToString(mac.Sum(nil)); subtle.ConstantTimeCompare([]byte(strings.ToLower(sig)), []byte(want)) == 1 {
				return nil
			}
		}
	}
	return Unauthenticated{fmt.Errorf("registry %s: the notification's webhook secret is missing or wrong", c.ID)}
}

// WebhookEvent takes a registry's push notification over HTTP: every
// registry it names must be configured, and the request must prove that
// registry's webhook secret.
func (e *Env) WebhookEvent(r *http.Request, body []byte) (*Outcome, error) {
	ev, err := e.parsePush(body)
	if err != nil {
		return nil, err
	}
	for _, img := range ev.Images {
		c, err := e.admit(r.Context(), img.Registry)
		if err != nil {
			return nil, err
		}
		if err := e.proves(r, body, c); err != nil {
			return nil, err
		}
	}
	return e.queuePush(r.Context(), ev, body)
}

// RegistryEvent takes a push notification delivered as an event
// invocation (/invoke): only EventBridge's, which the platform
// authenticates. Webhook payloads come to the HTTP trigger with their
// secret; on /invoke they are refused.
func (e *Env) RegistryEvent(ctx context.Context, body []byte) (*Outcome, error) {
	ev, err := e.parsePush(body)
	if err != nil {
		return nil, err
	}
	if !platformKinds[ev.Kind] {
		return nil, Unauthenticated{fmt.Errorf("%s notifications are taken on the HTTP trigger with their webhook secret, not as event invocations", ev.Kind)}
	}
	return e.queuePush(ctx, ev, body)
}

func (e *Env) parsePush(body []byte) (*event.Event, error) {
	ev, err := event.ParsePush(body, event.Options{ACRRegistry: e.Config.ACRRegistry})
	if err != nil {
		return nil, badEvent(err)
	}
	if len(ev.Images) > MaxImagesPerEvent {
		return nil, BadEvent{fmt.Errorf("the notification names %d images, over the %d one notification may", len(ev.Images), MaxImagesPerEvent)}
	}
	return ev, nil
}

// firstDelivery records a notification once; a replay or a duplicate
// delivery (the same ID, or the same body) within a day and the next finds
// it recorded (the janitor deletes older days).
func (e *Env) firstDelivery(ctx context.Context, ev *event.Event, body []byte) (bool, error) {
	id := ev.ID
	if id == "" {
		id = string(body)
	}
	sum := sha256.Sum256([]byte(string(ev.Kind) + "\x00" + id))
	h := hex.EncodeToString(sum[:])
	now := time.Now().UTC()
	yesterday := storekey.EventSeen(now.Add(-24*time.Hour).Format("20060102"), h)
	if seen, err := e.Store.Exists(ctx, yesterday); err != nil || seen {
		return false, err
	}
	return e.Store.PutIfAbsent(ctx, storekey.EventSeen(now.Format("20060102"), h), []byte(now.Format(time.RFC3339)))
}

// digestFresh reports whether digest was not queued within DigestWindow.
func (e *Env) digestFresh(ctx context.Context, digest string) (bool, error) {
	window := time.Now().Unix() / int64(DigestWindow/time.Second)
	for _, w := range []int64{window - 1, window} {
		ok, err := e.Store.Exists(ctx, storekey.DigestQueued(digest, w))
		if err != nil || ok {
			return false, err
		}
	}
	return e.Store.PutIfAbsent(ctx, storekey.DigestQueued(digest, window), nil)
}
