package event

import (
	"encoding/json"
	"net/url"
	"strings"
)

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
