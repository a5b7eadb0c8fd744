package event

import (
	"encoding/json"
)

// Alibaba Cloud Container Registry: push events of Enterprise Edition
// instances through EventBridge (CloudEvents) and the classic webhook.

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
