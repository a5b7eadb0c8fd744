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
	"net/url"
	"strings"

	"github.com/layerscan/layerscan/shared/scan"
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
	ScanRequest    Kind = "scan-request"
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

// Parse recognizes and normalizes one event body.
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
		return &Event{Kind: ScanRequest, OnDemand: &r}, nil
	}
	return nil, bad("unknown event: none of the known shapes (CloudEvents, EventBridge, ACR webhook, Harbor, Distribution, OSS, S3, timer, scan request) matches")
}

func parseCloudEvent(body []byte, o Options) (*Event, error) {
	var ce struct {
		ID     string `json:"id"`
		Source string `json:"source"`
		Type   string `json:"type"`
		Region string `json:"aliyunregionid"`
		Data   struct {
			InstanceName      string
			InstanceID        string `json:"InstanceId"`
			RegionID          string `json:"RegionId"`
			RepoNamespaceName string
			RepoName          string
			Tag               string
			Digest            string
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ce); err != nil {
		return nil, bad("CloudEvent: %v", err)
	}
	if ce.Source != "acs.cr" {
		return nil, bad("CloudEvent from %q: only acs.cr (Container Registry) events are handled", ce.Source)
	}
	ev := &Event{Kind: ACREventBridge, ID: ce.Source + "/" + ce.ID}
	if ce.Type != "cr:Artifact:PushCompleted" {
		ev.Ignored = "ACR event type " + ce.Type + " is not a push"
		return ev, nil
	}
	d := ce.Data
	if d.RepoNamespaceName == "" || d.RepoName == "" || (d.Tag == "" && d.Digest == "") {
		return nil, bad("ACR push event without RepoNamespaceName, RepoName and Tag or Digest")
	}
	region := d.RegionID
	if region == "" {
		region = ce.Region
	}
	host := o.ACRRegistry
	if host == "" {
		if d.InstanceName == "" || region == "" {
			return nil, bad("ACR push event without InstanceName and RegionId: set LAYERSCAN_ACR_REGISTRY to name the registry host")
		}
		host = d.InstanceName + "-registry." + region + ".cr.aliyuncs.com"
	}
	img := Image{Registry: host, Repository: d.RepoNamespaceName + "/" + d.RepoName, Tag: d.Tag, Digest: d.Digest}
	if err := checkImage(img); err != nil {
		return nil, err
	}
	ev.Images = []Image{img}
	return ev, nil
}

func parseAWSEvent(body []byte) (*Event, error) {
	var e struct {
		ID         string `json:"id"`
		DetailType string `json:"detail-type"`
		Source     string `json:"source"`
		Account    string `json:"account"`
		Region     string `json:"region"`
		Time       string `json:"time"`
		Detail     struct {
			Result         string `json:"result"`
			RepositoryName string `json:"repository-name"`
			ImageDigest    string `json:"image-digest"`
			ActionType     string `json:"action-type"`
			ImageTag       string `json:"image-tag"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, bad("EventBridge event: %v", err)
	}
	switch {
	case e.Source == "aws.events" && e.DetailType == "Scheduled Event":
		return &Event{Kind: AWSScheduled, ID: e.ID, Timer: &Timer{Time: e.Time}}, nil
	case e.Source == "aws.ecr" && e.DetailType == "ECR Image Action":
		ev := &Event{Kind: ECREventBridge, ID: e.ID}
		if e.Detail.ActionType != "PUSH" || e.Detail.Result != "SUCCESS" {
			ev.Ignored = fmt.Sprintf("ECR %s %s is not a successful push", e.Detail.ActionType, e.Detail.Result)
			return ev, nil
		}
		if e.Account == "" || e.Region == "" || e.Detail.RepositoryName == "" || (e.Detail.ImageDigest == "" && e.Detail.ImageTag == "") {
			return nil, bad("ECR push event without account, region, repository-name and image-digest or image-tag")
		}
		img := Image{Registry: e.Account + ".dkr.ecr." + e.Region + ".amazonaws.com", Repository: e.Detail.RepositoryName, Tag: e.Detail.ImageTag, Digest: e.Detail.ImageDigest}
		if err := checkImage(img); err != nil {
			return nil, err
		}
		ev.Images = []Image{img}
		return ev, nil
	}
	return nil, bad("EventBridge event %s / %s is not handled", e.Source, e.DetailType)
}

func parseACRWebhook(body []byte, o Options) (*Event, error) {
	var w struct {
		PushData struct {
			Digest   string `json:"digest"`
			PushedAt string `json:"pushed_at"`
			Tag      string `json:"tag"`
		} `json:"push_data"`
		Repository struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
			Region    string `json:"region"`
			FullName  string `json:"repo_full_name"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, bad("ACR webhook: %v", err)
	}
	repo := w.Repository.FullName
	if repo == "" && w.Repository.Namespace != "" && w.Repository.Name != "" {
		repo = w.Repository.Namespace + "/" + w.Repository.Name
	}
	if repo == "" || (w.PushData.Tag == "" && w.PushData.Digest == "") {
		return nil, bad("ACR webhook without repository and tag or digest")
	}
	host := o.ACRRegistry
	if host == "" {
		if w.Repository.Region == "" {
			return nil, bad("ACR webhook without repository.region: set LAYERSCAN_ACR_REGISTRY")
		}
		host = "registry." + w.Repository.Region + ".aliyuncs.com"
	}
	img := Image{Registry: host, Repository: repo, Tag: w.PushData.Tag, Digest: w.PushData.Digest}
	if err := checkImage(img); err != nil {
		return nil, err
	}
	return &Event{Kind: ACRWebhook, ID: repo + "@" + w.PushData.PushedAt, Images: []Image{img}}, nil
}

func parseHarbor(body []byte) (*Event, error) {
	var h struct {
		Type      string `json:"type"`
		OccurAt   int64  `json:"occur_at"`
		EventData struct {
			Resources []struct {
				Digest      string `json:"digest"`
				Tag         string `json:"tag"`
				ResourceURL string `json:"resource_url"`
			} `json:"resources"`
			Repository struct {
				FullName string `json:"repo_full_name"`
			} `json:"repository"`
		} `json:"event_data"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, bad("Harbor webhook: %v", err)
	}
	ev := &Event{Kind: Harbor, ID: fmt.Sprintf("%s@%d", h.EventData.Repository.FullName, h.OccurAt)}
	if h.Type != "PUSH_ARTIFACT" {
		ev.Ignored = "Harbor event " + h.Type + " is not a push"
		return ev, nil
	}
	for _, r := range h.EventData.Resources {
		img, err := fromResourceURL(r.ResourceURL)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(r.Digest, "sha256:") {
			img.Digest = r.Digest
		}
		if r.Tag != "" && !strings.HasPrefix(r.Tag, "sha256:") {
			img.Tag = r.Tag
		}
		if err := checkImage(img); err != nil {
			return nil, err
		}
		ev.Images = append(ev.Images, img)
	}
	if len(ev.Images) == 0 {
		return nil, bad("Harbor push without resources")
	}
	return ev, nil
}

// fromResourceURL splits "host/ns/repo:tag" or "host/ns/repo@sha256:…".
func fromResourceURL(u string) (Image, error) {
	host, rest, ok := strings.Cut(u, "/")
	if !ok || host == "" || rest == "" {
		return Image{}, bad("resource_url %q is not host/repository", u)
	}
	img := Image{Registry: host}
	if repo, d, ok := strings.Cut(rest, "@"); ok {
		img.Repository, img.Digest = repo, d
	} else if i := strings.LastIndex(rest, ":"); i > 0 {
		img.Repository, img.Tag = rest[:i], rest[i+1:]
	} else {
		img.Repository = rest
	}
	return img, nil
}

var manifestTypes = map[string]bool{
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
}

// parseEventsArray handles the two bodies that are {"events": [...]}: the
// FC OSS trigger and Distribution notifications (v1 and v2 envelopes share
// the shape; only the Content-Type differs).
func parseEventsArray(body []byte) (*Event, error) {
	var env struct {
		Events []struct {
			ID        string `json:"id"`
			EventName string `json:"eventName"`
			OSS       *struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"oss"`
			Action string `json:"action"`
			Target struct {
				MediaType  string `json:"mediaType"`
				Digest     string `json:"digest"`
				Repository string `json:"repository"`
				URL        string `json:"url"`
				Tag        string `json:"tag"`
			} `json:"target"`
			Request struct {
				Host string `json:"host"`
			} `json:"request"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, bad("events envelope: %v", err)
	}
	if len(env.Events) == 0 {
		return nil, bad("events envelope with no events")
	}
	if env.Events[0].OSS != nil {
		ev := &Event{Kind: OSSObjects}
		for _, e := range env.Events {
			if e.OSS == nil || e.OSS.Object.Key == "" {
				return nil, bad("OSS event without oss.object.key")
			}
			if !strings.HasPrefix(e.EventName, "ObjectCreated:") {
				continue // deletions of job objects are not jobs
			}
			key, err := url.PathUnescape(e.OSS.Object.Key)
			if err != nil {
				key = e.OSS.Object.Key
			}
			ev.Objects = append(ev.Objects, Object{Bucket: e.OSS.Bucket.Name, Key: key})
		}
		if len(ev.Objects) == 0 {
			ev.Ignored = "no object was created"
		}
		return ev, nil
	}
	ev := &Event{Kind: Distribution, ID: env.Events[0].ID}
	for _, e := range env.Events {
		if e.Action == "" {
			return nil, bad("Distribution event without action")
		}
		if e.Action != "push" || !manifestTypes[e.Target.MediaType] {
			continue // pulls, deletes and blob pushes
		}
		host := e.Request.Host
		if u, err := url.Parse(e.Target.URL); err == nil && u.Host != "" {
			host = u.Host
		}
		img := Image{Registry: host, Repository: e.Target.Repository, Tag: e.Target.Tag, Digest: e.Target.Digest}
		if err := checkImage(img); err != nil {
			return nil, err
		}
		ev.Images = append(ev.Images, img)
	}
	if len(ev.Images) == 0 {
		ev.Ignored = "no manifest push among the events"
	}
	return ev, nil
}

func parseS3(body []byte) (*Event, error) {
	var env struct {
		Records []struct {
			EventSource string `json:"eventSource"`
			EventName   string `json:"eventName"`
			S3          struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, bad("S3 event: %v", err)
	}
	ev := &Event{Kind: S3Objects}
	for _, r := range env.Records {
		if r.EventSource != "aws:s3" || r.S3.Object.Key == "" {
			return nil, bad("S3 event record without aws:s3 source and object key")
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		// S3 notifications URL-encode keys with + for spaces.
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			key = r.S3.Object.Key
		}
		ev.Objects = append(ev.Objects, Object{Bucket: r.S3.Bucket.Name, Key: key})
	}
	if len(ev.Objects) == 0 {
		ev.Ignored = "no object was created"
	}
	return ev, nil
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
	if i.Digest != "" && !scan.ValidDigest(i.Digest) {
		return bad("digest %q is not sha256:<64 hex>", i.Digest)
	}
	return nil
}
