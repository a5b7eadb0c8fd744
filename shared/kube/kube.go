// Package kube reads what a Kubernetes cluster runs: its Pods, and the
// ReplicaSets and Jobs that tie them to their workloads, over the plain
// REST API (JSON, paged with limit and continue). client-go would add
// megabytes to every function for four GET routes.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrUnauthorized is a token the API server refused (401).
var ErrUnauthorized = errors.New("the API server refused the token (401)")

// Forbidden is a list the token may not make (403): one namespace's, say.
type Forbidden struct{ What string }

func (f Forbidden) Error() string { return "the token may not list " + f.What + " (403)" }

// Client calls one API server.
type Client struct {
	// Server is the API server's base URL (https://host:6443).
	Server string
	Token  string
	HTTP   *http.Client
	// PageSize is the limit of each list request; 0 is 500.
	PageSize int
}

// Owner is a controller owner reference.
type Owner struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Container is one container of a Pod with what it runs.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// ImageID is the status' imageID: the digest the node pulled, as the
	// runtime reports it (docker-pullable://repo@sha256:…, repo@sha256:…),
	// "" before the container started.
	ImageID string `json:"imageID,omitempty"`
	Init    bool   `json:"init,omitempty"`
}

// Pod is what a scan needs of one Pod.
type Pod struct {
	Namespace  string
	Name       string
	Labels     map[string]string
	Owner      *Owner
	Containers []Container
}

type meta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	Labels          map[string]string `json:"labels"`
	OwnerReferences []struct {
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		Controller bool   `json:"controller"`
	} `json:"ownerReferences"`
}

func (m meta) owner() *Owner {
	for _, o := range m.OwnerReferences {
		if o.Controller {
			return &Owner{o.Kind, o.Name}
		}
	}
	return nil
}

type podJSON struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Containers     []struct{ Name, Image string } `json:"containers"`
		InitContainers []struct{ Name, Image string } `json:"initContainers"`
	} `json:"spec"`
	Status struct {
		ContainerStatuses     []struct{ Name, Image, ImageID string } `json:"containerStatuses"`
		InitContainerStatuses []struct{ Name, Image, ImageID string } `json:"initContainerStatuses"`
	} `json:"status"`
}

func (p podJSON) pod() Pod {
	out := Pod{Namespace: p.Metadata.Namespace, Name: p.Metadata.Name, Labels: p.Metadata.Labels, Owner: p.Metadata.owner()}
	ids := map[string]string{}
	for _, s := range p.Status.ContainerStatuses {
		ids[s.Name] = s.ImageID
	}
	for _, s := range p.Status.InitContainerStatuses {
		ids["init/"+s.Name] = s.ImageID
	}
	for _, c := range p.Spec.InitContainers {
		out.Containers = append(out.Containers, Container{Name: c.Name, Image: c.Image, ImageID: ids["init/"+c.Name], Init: true})
	}
	for _, c := range p.Spec.Containers {
		out.Containers = append(out.Containers, Container{Name: c.Name, Image: c.Image, ImageID: ids[c.Name]})
	}
	return out
}

// MaxItems bounds one listing: a cluster with more Pods in one namespace
// is scanned by label selector or namespace, not whole.
const MaxItems = 100_000

// list pages through a list route, calling each with every page's raw
// items. An expired continue token (410 Gone) starts the list again, once:
// the list is a new snapshot then, and items seen twice are de-duplicated
// by the caller's keys.
func (c *Client) list(ctx context.Context, path, selector, what string, each func(json.RawMessage) error) error {
	limit := c.PageSize
	if limit <= 0 {
		limit = 500
	}
	cont, restarted, n := "", false, 0
	for {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if selector != "" {
			q.Set("labelSelector", selector)
		}
		if cont != "" {
			q.Set("continue", cont)
		}
		var page struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		status, err := c.get(ctx, path+"?"+q.Encode(), &page)
		switch {
		case status == http.StatusGone && cont != "" && !restarted:
			cont, restarted = "", true
			continue
		case status == http.StatusUnauthorized:
			return ErrUnauthorized
		case status == http.StatusForbidden:
			return Forbidden{what}
		case err != nil:
			return fmt.Errorf("list %s: %w", what, err)
		}
		for _, it := range page.Items {
			if n++; n > MaxItems {
				return fmt.Errorf("list %s: more than %d items", what, MaxItems)
			}
			if err := each(it); err != nil {
				return err
			}
		}
		if page.Metadata.Continue == "" {
			return nil
		}
		cont = page.Metadata.Continue
	}
}

// maxPage bounds one page's body: 500 Pods are a few megabytes.
const maxPage = 64 << 20

func (c *Client) get(ctx context.Context, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.Server, "/")+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, fmt.Errorf("the API server answered %s", resp.Status)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxPage))
	if err := dec.Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("decode: %w", err)
	}
	return resp.StatusCode, nil
}

func nsPath(ns, group, resource string) string {
	if ns == "" {
		return group + "/" + resource
	}
	return group + "/namespaces/" + url.PathEscape(ns) + "/" + resource
}

// Pods lists the Pods of a namespace ("" for every namespace) that match
// a label selector ("" for all).
func (c *Client) Pods(ctx context.Context, ns, selector string) ([]Pod, error) {
	var out []Pod
	seen := map[string]bool{}
	what := "pods in namespace " + ns
	if ns == "" {
		what = "pods in every namespace"
	}
	err := c.list(ctx, nsPath(ns, "/api/v1", "pods"), selector, what, func(raw json.RawMessage) error {
		var p podJSON
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("pod: %w", err)
		}
		if k := p.Metadata.Namespace + "/" + p.Metadata.Name; !seen[k] {
			seen[k] = true
			out = append(out, p.pod())
		}
		return nil
	})
	return out, err
}

// Owners maps the ReplicaSets and Jobs of a namespace to their own
// controllers ("ReplicaSet/web-5d8f" → Deployment/web), so that a Pod is
// named by its workload.
func (c *Client) Owners(ctx context.Context, ns string) (map[string]Owner, error) {
	out := map[string]Owner{}
	for _, r := range []struct{ group, resource, kind string }{{"/apis/apps/v1", "replicasets", "ReplicaSet"}, {"/apis/batch/v1", "jobs", "Job"}} {
		err := c.list(ctx, nsPath(ns, r.group, r.resource), "", r.resource+" in namespace "+ns, func(raw json.RawMessage) error {
			var o struct {
				Metadata meta `json:"metadata"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				return fmt.Errorf("%s: %w", r.resource, err)
			}
			if ow := o.Metadata.owner(); ow != nil {
				out[o.Metadata.Namespace+"/"+r.kind+"/"+o.Metadata.Name] = *ow
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Workload is the top-level controller a Pod runs under: Deployment (via
// its ReplicaSet), StatefulSet, DaemonSet, CronJob (via its Job), Job, or
// the Pod itself.
func Workload(p Pod, owners map[string]Owner) Owner {
	if p.Owner == nil {
		return Owner{"Pod", p.Name}
	}
	o := *p.Owner
	if o.Kind == "ReplicaSet" || o.Kind == "Job" {
		if up, ok := owners[p.Namespace+"/"+o.Kind+"/"+o.Name]; ok {
			return up
		}
	}
	return o
}

// Digest is the running image of a container, from its imageID: the
// repository and digest the node pulled. ok is false when the runtime did
// not report one (not started yet, or an image ID that is not a registry
// digest).
func (c Container) Digest() (repo, digest string, ok bool) {
	id := c.ImageID
	for _, p := range []string{"docker-pullable://", "docker://", "containerd://"} {
		id = strings.TrimPrefix(id, p)
	}
	repo, digest, ok = strings.Cut(id, "@")
	if !ok || !strings.HasPrefix(digest, "sha256:") || len(digest) != 71 || repo == "" {
		return "", "", false
	}
	return repo, digest, true
}
