package event

import (
	"encoding/json"
	"fmt"
)

// EventBridge events of AWS: ECR image actions and scheduled events.

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
