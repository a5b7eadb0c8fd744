package event

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const corpusDigest = "sha256:f29e67343e1276e29ce0678a1aade8948db247c64f64515dc0fa8f8310abae19"

// TestSamples parses every file of events/ and checks what it names.
func TestSamples(t *testing.T) {
	want := map[string]struct {
		kind    Kind
		refs    []string
		objects []string
		timer   bool
		demand  string
	}{
		"acr-eventbridge-push.json":      {kind: ACREventBridge, refs: []string{"layerscan-demo-registry.cn-hangzhou.cr.aliyuncs.com/team/app@" + corpusDigest}},
		"acr-webhook-push.json":          {kind: ACRWebhook, refs: []string{"registry.cn-hangzhou.aliyuncs.com/team/app@" + corpusDigest}},
		"harbor-push-artifact.json":      {kind: Harbor, refs: []string{"harbor.example.com/team/app@" + corpusDigest}},
		"distribution-v1-push.json":      {kind: Distribution, refs: []string{"registry.example.com:5000/team/app@" + corpusDigest}},
		"distribution-v2-push.json":      {kind: Distribution, refs: []string{"registry.example.com/team/base@sha256:1e92ad88619a087ca92d436be8864646e238c7100159ef35c3dc2b7b5402d170"}},
		"ecr-eventbridge-push.json":      {kind: ECREventBridge, refs: []string{"123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app@" + corpusDigest}},
		"fc-timer.json":                  {kind: FCTimer, timer: true},
		"aws-scheduled.json":             {kind: AWSScheduled, timer: true},
		"http-scan-request.json":         {kind: OnDemandScan, demand: "registry.example.com/team/app:1.0"},
		"oss-trigger-queue-job.json":     {kind: OSSObjects, objects: []string{"layerscan-store/queue/analyze-layer/20261119T062135Z-4f3a2b1c0d9e.json"}},
		"s3-notification-queue-job.json": {kind: S3Objects, objects: []string{"layerscan-store/queue/build-report/20261119T062135Z-9a8b7c6d5e4f.json"}},
		// MinIO's bucket notification: S3's records from "minio:s3", the key URL-encoded.
		"minio-notification-queue-job.json": {kind: S3Objects, objects: []string{"layerscan-store/queue/scan-image/20261201T143000.000Z-1a2b3c4d5e6f.json"}},
	}
	files, _ := filepath.Glob("../../events/*.json")
	if len(files) != len(want) {
		t.Errorf("%d samples, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[filepath.Base(f)]
		if !ok {
			t.Errorf("%s: no expectation", f)
			continue
		}
		ev, err := Parse(b, Options{})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if ev.Kind != w.kind || ev.Ignored != "" {
			t.Errorf("%s: kind %s ignored %q, want %s", f, ev.Kind, ev.Ignored, w.kind)
		}
		var refs, objs []string
		for _, i := range ev.Images {
			refs = append(refs, i.Ref())
		}
		for _, o := range ev.Objects {
			objs = append(objs, o.Bucket+"/"+o.Key)
		}
		if strings.Join(refs, ",") != strings.Join(w.refs, ",") || strings.Join(objs, ",") != strings.Join(w.objects, ",") {
			t.Errorf("%s: refs %v objects %v, want %v %v", f, refs, objs, w.refs, w.objects)
		}
		if (ev.Timer != nil) != w.timer || (w.demand != "" && (ev.OnDemand == nil || ev.OnDemand.Image != w.demand)) {
			t.Errorf("%s: timer %v on-demand %+v", f, ev.Timer, ev.OnDemand)
		}
	}
}

func TestIgnoredAndBad(t *testing.T) {
	ignored := []string{
		`{"specversion":"1.0","source":"acs.cr","type":"cr:Artifact:ScanCompleted","id":"1","data":{}}`,
		`{"type":"PULL_ARTIFACT","event_data":{"resources":[]}}`,
		`{"events":[{"action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"a","digest":"sha256:` + strings.Repeat("a", 64) + `"},"request":{"host":"r"}}]}`,
		`{"version":"0","detail-type":"ECR Image Action","source":"aws.ecr","account":"1","region":"r","detail":{"action-type":"DELETE","result":"SUCCESS"}}`,
		`{"events":[{"eventName":"ObjectRemoved:DeleteObject","oss":{"bucket":{"name":"b"},"object":{"key":"queue/x/y.json"}}}]}`,
	}
	for _, s := range ignored {
		ev, err := Parse([]byte(s), Options{})
		if err != nil || ev.Ignored == "" || len(ev.Images)+len(ev.Objects) != 0 {
			t.Errorf("%s: %+v %v, want ignored", s, ev, err)
		}
	}
	badOnes := []string{
		``, `[]`, `not json`, `{"hello":"world"}`,
		`{"specversion":"1.0","source":"acs.oss","type":"x"}`,
		`{"specversion":"1.0","source":"acs.cr","type":"cr:Artifact:PushCompleted","data":{"RepoName":"x"}}`,
		`{"push_data":{"tag":"1"},"repository":{}}`,
		`{"push_data":{"digest":"sha256:nothex"},"repository":{"repo_full_name":"a/b","region":"cn-hangzhou"}}`,
		`{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"resource_url":"nohost"}]}}`,
		`{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"resource_url":"h/a b:1"}]}}`,
		`{"events":[]}`,
		`{"events":[{"target":{}}]}`,
		`{"Records":[{"eventSource":"aws:sqs"}]}`,
		`{"detail-type":"Something","source":"aws.ec2"}`,
		`{"image":""}`,
		`{"image":"x","extra":true}`,
		`{"push_data":{"tag":"1"},"repository":{"repo_full_name":"a/../b","region":"r"}}`,
	}
	for _, s := range badOnes {
		if ev, err := Parse([]byte(s), Options{}); !errors.Is(err, ErrBadEvent) {
			t.Errorf("%q: %+v %v, want ErrBadEvent", s, ev, err)
		}
	}
	if _, err := Parse([]byte(`{"image":"`+strings.Repeat("a", MaxBody)+`"}`), Options{}); !errors.Is(err, ErrBadEvent) {
		t.Error("oversized body accepted")
	}
}

func TestRegistryOverride(t *testing.T) {
	b, _ := os.ReadFile("../../events/acr-webhook-push.json")
	ev, err := Parse(b, Options{ACRRegistry: "127.0.0.1:5000"})
	if err != nil || ev.Images[0].Ref() != "127.0.0.1:5000/team/app@"+corpusDigest {
		t.Errorf("%+v %v", ev, err)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../events/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Parse(b, Options{})
		if err != nil && !errors.Is(err, ErrBadEvent) {
			t.Fatalf("error without ErrBadEvent: %v", err)
		}
		if err == nil {
			for _, i := range ev.Images {
				if checkImage(i) != nil {
					t.Fatalf("unchecked image %+v", i)
				}
			}
		}
	})
}

// TestFamilies: each handler's parser takes its own family and refuses the
// others with ErrBadEvent.
func TestFamilies(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("../../events/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	harbor, timer := read("harbor-push-artifact.json"), read("fc-timer.json")
	oss, scanReq := read("oss-trigger-queue-job.json"), []byte(`{"image":"r.example/a/b:1"}`)
	if _, err := ParsePush(harbor, Options{}); err != nil {
		t.Errorf("push: %v", err)
	}
	if _, err := ParseObjects(oss); err != nil {
		t.Errorf("objects: %v", err)
	}
	if tm, err := ParseTimer(timer); err != nil || tm == nil {
		t.Errorf("timer: %v", err)
	}
	if tm, err := ParseTimer(nil); err != nil || tm == nil {
		t.Errorf("empty timer: %v", err)
	}
	if r, err := ParseScanRequest(scanReq); err != nil || r.Image != "r.example/a/b:1" {
		t.Errorf("scan request: %+v %v", r, err)
	}
	for name, err := range map[string]error{
		"push from timer":       second(ParsePush(timer, Options{})),
		"objects from harbor":   second(ParseObjects(harbor)),
		"timer from scan":       second(ParseTimer(scanReq)),
		"scan request from oss": second(ParseScanRequest(oss)),
	} {
		if !errors.Is(err, ErrBadEvent) {
			t.Errorf("%s: %v, want ErrBadEvent", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }
