package event

import (
	"encoding/json"
	"fmt"
	"strings"
)

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
