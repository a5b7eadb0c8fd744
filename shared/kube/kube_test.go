package kube

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDigest(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		id, repo string
		ok       bool
	}{
		{"docker-pullable://registry.example/team/app@" + d, "registry.example/team/app", true},
		{"registry.example:5000/app@" + d, "registry.example:5000/app", true},
		{"docker.io/library/nginx@" + d, "docker.io/library/nginx", true},
		{d, "", false},  // an image ID, not a registry digest
		{"", "", false}, // not started
		{"registry.example/app@sha256:abc", "", false}, // truncated
	} {
		repo, digest, ok := Container{ImageID: tc.id}.Digest()
		if ok != tc.ok || repo != tc.repo || (ok && digest != d) {
			t.Errorf("%q: %q %q %v", tc.id, repo, digest, ok)
		}
	}
}

func TestWorkload(t *testing.T) {
	owners := map[string]Owner{"prod/ReplicaSet/web-5d8f": {"Deployment", "web"}, "prod/Job/backup-29": {"CronJob", "backup"}}
	for _, tc := range []struct {
		p    Pod
		want Owner
	}{
		{Pod{Namespace: "prod", Name: "web-5d8f-x", Owner: &Owner{"ReplicaSet", "web-5d8f"}}, Owner{"Deployment", "web"}},
		{Pod{Namespace: "prod", Name: "backup-29-y", Owner: &Owner{"Job", "backup-29"}}, Owner{"CronJob", "backup"}},
		{Pod{Namespace: "prod", Name: "db-0", Owner: &Owner{"StatefulSet", "db"}}, Owner{"StatefulSet", "db"}},
		{Pod{Namespace: "prod", Name: "lonely"}, Owner{"Pod", "lonely"}},
		{Pod{Namespace: "prod", Name: "orphan", Owner: &Owner{"ReplicaSet", "gone"}}, Owner{"ReplicaSet", "gone"}},
	} {
		if got := Workload(tc.p, owners); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.p.Name, got, tc.want)
		}
	}
}

// FuzzPod: a Pod as an API server (or anything answering in its place)
// sends it never panics the parser, and every digest taken is one.
func FuzzPod(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"a","namespace":"n","ownerReferences":[{"kind":"ReplicaSet","name":"r","controller":true}]},"spec":{"containers":[{"name":"c","image":"x"}],"initContainers":[{"name":"i","image":"y"}]},"status":{"containerStatuses":[{"name":"c","imageID":"docker-pullable://r/x@sha256:` + strings.Repeat("0", 64) + `"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p podJSON
		if json.Unmarshal(b, &p) != nil {
			return
		}
		for _, c := range p.pod().Containers {
			if _, d, ok := c.Digest(); ok && (len(d) != 71 || !strings.HasPrefix(d, "sha256:")) {
				t.Fatalf("digest %q", d)
			}
		}
	})
}
