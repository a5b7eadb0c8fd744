// Package event turns what triggers the suite into one normalized form:
// registry push notifications (ACR via EventBridge and its classic webhook,
// Harbor, Docker/CNCF Distribution, ECR via EventBridge), timers (FC timer
// trigger, AWS scheduled events), object-store notifications that deliver
// queue jobs (FC OSS trigger, S3 event notifications), and on-demand scan
// requests. A malformed or unknown event is an error wrapping ErrBadEvent,
// with the reason; a known event that asks for nothing (a pull, a delete)
// parses to an Event with nothing in it and its Ignored reason set.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/layerscan/layerscan/shared/digest"
)

// ErrBadEvent marks events that are malformed or of an unknown kind.
var ErrBadEvent = errors.New("bad event")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadEvent, fmt.Sprintf(format, args...))
}

// Kind names an event source.
type Kind string

// The kinds of events the suite understands.
const (
	ACREventBridge Kind = "acr-eventbridge"
	ACRWebhook     Kind = "acr-webhook"
	Harbor         Kind = "harbor"
	Distribution   Kind = "distribution"
	ECREventBridge Kind = "ecr-eventbridge"
	FCTimer        Kind = "fc-timer"
	AWSScheduled   Kind = "aws-scheduled"
	OSSObjects     Kind = "oss"
	S3Objects      Kind = "s3"
	OnDemandScan   Kind = "scan-request"
)

// Image is one image a push event names. Digest may be empty (a tag push
// whose notification carries none): it must be resolved before any state is
// written.
type Image struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
}

// Ref is the pull reference: by digest when known, else by tag.
func (i Image) Ref() string {
	base := i.Registry + "/" + i.Repository
	if i.Digest != "" {
		return base + "@" + i.Digest
	}
	tag := i.Tag
	if tag == "" {
		tag = "latest"
	}
	return base + ":" + tag
}

// Object is one created object of a store notification.
type Object struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// Timer is a scheduled invocation.
type Timer struct {
	Name    string `json:"name,omitempty"`
	Time    string `json:"time,omitempty"`
	Payload string `json:"payload,omitempty"`
}

// OnDemand is the body of an HTTP scan request (POST /v1/scans).
type OnDemand struct {
	Image        string `json:"image"`
	Platform     string `json:"platform,omitempty"`
	AllPlatforms bool   `json:"allPlatforms,omitempty"`
	Dockerfile   string `json:"dockerfile,omitempty"`
}

// Event is a parsed trigger.
type Event struct {
	Kind Kind `json:"kind"`
	// ID identifies the notification (for logs and de-duplication).
	ID       string    `json:"id,omitempty"`
	Images   []Image   `json:"images,omitempty"`
	Objects  []Object  `json:"objects,omitempty"`
	Timer    *Timer    `json:"timer,omitempty"`
	OnDemand *OnDemand `json:"onDemand,omitempty"`
	// Ignored says why a well-formed event asks for nothing.
	Ignored string `json:"ignored,omitempty"`
}

// Options carry what an event may not say itself.
type Options struct {
	// ACRRegistry overrides the registry host of ACR events (an Enterprise
	// instance's domain, a VPC endpoint); by default it is derived from the
	// event: <instance>-registry.<region>.cr.aliyuncs.com for Enterprise
	// Edition, registry.<region>.aliyuncs.com for the classic webhook.
	ACRRegistry string
}

// MaxBody bounds what is read of an event: FC async payloads are 128 KB,
// sync 32 MB; registry notifications are small.
const MaxBody = 1 << 20

// Families of kinds: each handler takes one family, through its own parser.
var (
	pushKinds   = []Kind{ACREventBridge, ACRWebhook, Harbor, Distribution, ECREventBridge}
	objectKinds = []Kind{OSSObjects, S3Objects}
	timerKinds  = []Kind{FCTimer, AWSScheduled}
)

func parseFamily(body []byte, o Options, family string, kinds []Kind) (*Event, error) {
	ev, err := Parse(body, o)
	if err != nil {
		return nil, err
	}
	for _, k := range kinds {
		if ev.Kind == k {
			return ev, nil
		}
	}
	return nil, bad("%s expected, not a %s event", family, ev.Kind)
}

// ParsePush parses a registry push notification (ACR, Harbor,
// Distribution, ECR): what registry-events takes.
func ParsePush(body []byte, o Options) (*Event, error) {
	return parseFamily(body, o, "a registry push notification", pushKinds)
}

// ParseObjects parses a store notification of created objects (FC OSS
// trigger, S3): what the step functions take.
func ParseObjects(body []byte) (*Event, error) {
	return parseFamily(body, Options{}, "a store notification (OSS, S3)", objectKinds)
}

// ParseTimer parses a timer event (FC timer trigger, AWS scheduled event).
// An empty body is a manual invocation and parses to an empty timer.
func ParseTimer(body []byte) (*Timer, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return &Timer{}, nil
	}
	ev, err := parseFamily(body, Options{}, "a timer event", timerKinds)
	if err != nil {
		return nil, err
	}
	return ev.Timer, nil
}

// ParseScanRequest parses the body of an on-demand scan request.
func ParseScanRequest(body []byte) (*OnDemand, error) {
	ev, err := parseFamily(body, Options{}, `a scan request {"image": "registry/repo:tag"}`, []Kind{OnDemandScan})
	if err != nil {
		return nil, err
	}
	return ev.OnDemand, nil
}

// Parse recognizes and normalizes one event body of any kind; handlers use
// the parser of their family instead.
func Parse(body []byte, o Options) (*Event, error) {
	if len(body) > MaxBody {
		return nil, bad("event of %d bytes is over the %d-byte limit", len(body), MaxBody)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, bad("empty body")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return nil, bad("not a JSON object: %v", err)
	}
	has := func(k string) bool { _, ok := keys[k]; return ok }
	switch {
	case has("specversion"):
		return parseCloudEvent(body, o)
	case has("detail-type") && has("source"):
		return parseAWSEvent(body)
	case has("push_data"):
		return parseACRWebhook(body, o)
	case has("event_data") && has("type"):
		return parseHarbor(body)
	case has("events"):
		return parseEventsArray(body)
	case has("Records"):
		return parseS3(body)
	case has("triggerTime"):
		var t struct {
			TriggerTime string `json:"triggerTime"`
			TriggerName string `json:"triggerName"`
			Payload     string `json:"payload"`
		}
		if err := json.Unmarshal(body, &t); err != nil {
			return nil, bad("timer event: %v", err)
		}
		return &Event{Kind: FCTimer, ID: t.TriggerName + "@" + t.TriggerTime, Timer: &Timer{Name: t.TriggerName, Time: t.TriggerTime, Payload: t.Payload}}, nil
	case has("image"):
		var r OnDemand
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, bad("scan request: %v", err)
		}
		if strings.TrimSpace(r.Image) == "" {
			return nil, bad("scan request: image is empty")
		}
		return &Event{Kind: OnDemandScan, OnDemand: &r}, nil
	}
	return nil, bad("unknown event: none of the known shapes (CloudEvents, EventBridge, ACR webhook, Harbor, Distribution, OSS, S3, timer, scan request) matches")
}

// checkImage refuses names no registry would accept, so that nothing odd
// reaches a pull or a store key.
func checkImage(i Image) error {
	if i.Registry == "" || i.Repository == "" {
		return bad("image without registry or repository")
	}
	if strings.ContainsAny(i.Registry+i.Repository+i.Tag, " \t\n\"'\\@") || strings.Contains(i.Repository, "..") {
		return bad("image name %q has characters a registry would refuse", i.Registry+"/"+i.Repository+":"+i.Tag)
	}
	if i.Digest != "" && !digest.Valid(i.Digest) {
		return bad("digest %q is not sha256:<64 hex>", i.Digest)
	}
	return nil
}
