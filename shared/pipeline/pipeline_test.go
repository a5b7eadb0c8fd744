package pipeline_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/analyzer/dpkg"
	"github.com/layerscan/layerscan/shared/analyzer/osrelease"
	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/secret"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// memSource is an image source in memory: images and indexes by name, the
// opener the tests hand the steps instead of a registry.
type memSource struct {
	images  map[string]v1.Image
	indexes map[string]v1.ImageIndex
	// broken layers serve these bytes instead of their own.
	broken map[v1.Hash][]byte
	mu     sync.Mutex
	opened int // layer blobs opened
}

func (m *memSource) Open(_ context.Context, ref source.Ref, _ source.Options) (*source.Artifact, error) {
	if img, ok := m.images[ref.Location]; ok {
		d, err := img.Digest()
		return &source.Artifact{Name: ref.Location, Digest: d, Image: img}, err
	}
	if idx, ok := m.indexes[ref.Location]; ok {
		d, err := idx.Digest()
		return &source.Artifact{Name: ref.Location, Digest: d, Index: idx}, err
	}
	return nil, fmt.Errorf("%s: no such image", ref.Location)
}

func (m *memSource) Layer(_ context.Context, ref source.Ref, digest v1.Hash, _ source.Options) (v1.Layer, error) {
	m.mu.Lock()
	m.opened++
	m.mu.Unlock()
	var imgs []v1.Image
	if img, ok := m.images[ref.Location]; ok {
		imgs = append(imgs, img)
	}
	if idx, ok := m.indexes[ref.Location]; ok {
		im, _ := idx.IndexManifest()
		for _, d := range im.Manifests {
			img, _ := idx.Image(d.Digest)
			imgs = append(imgs, img)
		}
	}
	for _, img := range imgs {
		if l, err := img.LayerByDigest(digest); err == nil {
			if b, ok := m.broken[digest]; ok {
				return brokenLayer{l, b}, nil
			}
			return l, nil
		}
	}
	return nil, fmt.Errorf("%s: no layer %s", ref.Location, digest)
}

type brokenLayer struct {
	v1.Layer
	b []byte
}

func (l brokenLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.b)), nil
}

// recorder collects what the steps dispatch.
type recorder struct {
	mu   sync.Mutex
	jobs []dispatch.Envelope
}

func (r *recorder) Dispatch(_ context.Context, e dispatch.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs = append(r.jobs, e)
	return nil
}

func (r *recorder) steps() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[string]int{}
	for _, e := range r.jobs {
		n[e.Step]++
	}
	return n
}

// tarLayer makes a gzip layer of the given files.
func tarLayer(t testing.TB, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

const osRelease = "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"

const dpkgStatus = `Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
`

// debianLike is a three-layer image: an os-release and dpkg database, a
// random layer, and a layer with a private key.
func debianLike(t testing.TB) v1.Image {
	t.Helper()
	rnd, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	rl, _ := rnd.Layers()
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: tarLayer(t, map[string]string{"etc/os-release": osRelease, "var/lib/dpkg/status": dpkgStatus}), History: v1.History{CreatedBy: "ADD rootfs.tar /"}},
		mutate.Addendum{Layer: rl[0], History: v1.History{CreatedBy: "RUN make"}},
		mutate.Addendum{Layer: tarLayer(t, map[string]string{"root/.ssh/id_rsa": privateKey(t)}), History: v1.History{CreatedBy: "COPY id_rsa /root/.ssh/"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// privateKey is a PEM RSA key made for the test.
func privateKey(t testing.TB) string {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func testSet() *analyzer.Set {
	return analyzer.NewSet(osrelease.Analyzer{}, dpkg.Analyzer{}, secret.Analyzer{})
}

func newSteps(t testing.TB, src *memSource) (*pipeline.Steps, store.Store) {
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.Steps{Store: st, Analyzers: testSet(), Sources: src}, st
}

func request(loc string) scanrecord.Request {
	return scanrecord.Request{Source: source.Ref{Kind: "memory", Location: loc}}
}

func TestPlanRecordsAndFansOut(t *testing.T) {
	ctx := context.Background()
	img := debianLike(t)
	src := &memSource{images: map[string]v1.Image{"mem/debian:12": img}}
	d, st := newSteps(t, src)
	rec := &recorder{}
	d.Dispatch = rec
	ids, err := d.Plan(ctx, request("mem/debian:12"))
	if err != nil || len(ids) != 1 {
		t.Fatalf("plan: %v %v", ids, err)
	}
	s, err := scanrecord.LoadState(ctx, st, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	m, _ := img.Manifest()
	cfg, _ := img.ConfigFile()
	if s.Digest != digest.String() || s.Platform != "linux/amd64" || len(s.Layers) != 3 || s.AnalyzerSet != d.Analyzers.Version() {
		t.Fatalf("state %+v", s)
	}
	for i, l := range s.Layers {
		if l.Digest != m.Layers[i].Digest.String() || l.DiffID != cfg.RootFS.DiffIDs[i].String() || l.Index != i {
			t.Errorf("layer %d: %+v", i, l)
		}
	}
	if s.Layers[2].CreatedBy != "COPY id_rsa /root/.ssh/" {
		t.Errorf("history of layer 2: %q", s.Layers[2].CreatedBy)
	}
	if raw, err := st.Get(ctx, storekey.ImageConfig(s.Digest)); err != nil || len(raw) == 0 {
		t.Errorf("config not stored: %v", err)
	}
	if got := rec.steps(); got[pipeline.StepAnalyzeLayer] != 3 || got[pipeline.StepBuildReport] != 0 {
		t.Errorf("dispatched %v", got)
	}
	if src.opened != 0 {
		t.Errorf("planning opened %d layer blobs", src.opened)
	}
}

func TestScanEndToEndInMemory(t *testing.T) {
	ctx := context.Background()
	src := &memSource{images: map[string]v1.Image{"mem/debian:12": debianLike(t)}}
	d, st := newSteps(t, src)
	rs, err := d.ScanLocal(ctx, request("mem/debian:12"), 2)
	if err != nil || len(rs) != 1 {
		t.Fatalf("scan: %v %v", rs, err)
	}
	r := rs[0]
	if !r.Complete || len(r.Layers) != 3 {
		t.Fatalf("complete=%v layers=%+v errors=%v", r.Complete, r.Layers, r.Errors)
	}
	if r.Image.OS == nil || r.Image.OS.Family != "debian" {
		t.Errorf("os %+v", r.Image.OS)
	}
	var pkgs []string
	for _, p := range r.Packages {
		pkgs = append(pkgs, p.Name+"@"+p.Version+"/"+p.Path)
	}
	if got := strings.Join(pkgs, " "); got != "bash@5.2.15-2+b2//var/lib/dpkg/status zlib1g@1:1.2.13.dfsg-1//var/lib/dpkg/status" {
		t.Errorf("packages %s", got)
	}
	key := false
	for _, f := range r.Findings {
		if f.Path == "/root/.ssh/id_rsa" && f.LayerDiffID == r.Layers[2].DiffID {
			key = true
		}
	}
	if !key {
		t.Errorf("the private key of layer 2 is not reported: %+v", r.Findings)
	}
	if len(r.Warnings) == 0 || !strings.Contains(strings.Join(r.Warnings, " "), "no advisory DB") {
		t.Errorf("no warning that vulnerabilities were not checked: %v", r.Warnings)
	}
	// Every layer's facts are cached: a second scan opens no blob and
	// reuses the report.
	opened := src.opened
	rs2, err := d.ScanLocal(ctx, request("mem/debian:12"), 2)
	if err != nil || src.opened != opened {
		t.Fatalf("rescan opened %d blobs: %v", src.opened-opened, err)
	}
	for _, l := range rs2[0].Layers {
		if l.Status != scanrecord.Cached {
			t.Errorf("rescan layer %d: %s", l.Index, l.Status)
		}
	}
	if keys, _ := st.List(ctx, storekey.LayersPrefix); len(keys) != 3 {
		t.Errorf("%d facts objects, want 3", len(keys))
	}
}

func TestCorruptLayerFailsTheReport(t *testing.T) {
	ctx := context.Background()
	img := debianLike(t)
	m, _ := img.Manifest()
	src := &memSource{
		images: map[string]v1.Image{"mem/broken:1": img},
		broken: map[v1.Hash][]byte{m.Layers[1].Digest: []byte("\x1f\x8bnot gzip at all")},
	}
	d, st := newSteps(t, src)
	rs, err := d.ScanLocal(ctx, request("mem/broken:1"), 2)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if r.Complete || r.Layers[1].Status != scanrecord.Failed || r.Layers[0].Status != scanrecord.Analyzed || len(r.Errors) == 0 {
		t.Errorf("complete=%v layers=%+v errors=%v", r.Complete, r.Layers, r.Errors)
	}
	cfg, _ := img.ConfigFile()
	if ok, _ := st.Exists(ctx, storekey.Facts(cfg.RootFS.DiffIDs[1].String(), d.Analyzers.Version())); ok {
		t.Error("the facts of a failed layer were cached")
	}
}

func TestAnalyzeLayerDuplicatesClaimOnce(t *testing.T) {
	ctx := context.Background()
	src := &memSource{images: map[string]v1.Image{"mem/debian:12": debianLike(t)}}
	d, _ := newSteps(t, src)
	rec := &recorder{}
	d.Dispatch = rec
	if _, err := d.Plan(ctx, request("mem/debian:12")); err != nil {
		t.Fatal(err)
	}
	layerJobs := append([]dispatch.Envelope(nil), rec.jobs...)
	var wg sync.WaitGroup
	for _, e := range layerJobs {
		for range 3 { // each layer delivered three times, all at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := d.Handlers().Run(ctx, e); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if n := rec.steps()[pipeline.StepBuildReport]; n != 1 {
		t.Errorf("%d build-report jobs, want 1", n)
	}
	// A worker of another build refuses the job.
	other := *d
	other.Analyzers = analyzer.NewSet(osrelease.Analyzer{})
	if err := other.Handlers().Run(ctx, layerJobs[0]); err == nil || !strings.Contains(err.Error(), "analyzer set") {
		t.Errorf("another analyzer set: %v", err)
	}
}

func TestPlatformsOfAnIndex(t *testing.T) {
	ctx := context.Background()
	amd, arm := debianLike(t), debianLike(t)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	src := &memSource{indexes: map[string]v1.ImageIndex{"mem/multi:1": idx}}
	d, _ := newSteps(t, src)
	want := func(img v1.Image) string { h, _ := img.Digest(); return h.String() }
	for _, c := range []struct {
		req  scanrecord.Request
		want []string
	}{
		{request("mem/multi:1"), []string{want(amd)}},
		{scanrecord.Request{Source: request("mem/multi:1").Source, Platform: "linux/arm64/v8"}, []string{want(arm)}},
		{scanrecord.Request{Source: request("mem/multi:1").Source, AllPlatforms: true}, []string{want(amd), want(arm)}},
	} {
		rs, err := d.ScanLocal(ctx, c.req, 2)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.Image.Digest)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%+v: %v, want %v", c.req, got, c.want)
		}
	}
	if _, err := d.Plan(ctx, scanrecord.Request{Source: request("mem/multi:1").Source, Platform: "linux/s390x"}); err == nil || !strings.Contains(err.Error(), "no image for platform") {
		t.Errorf("missing platform: %v", err)
	}
}

func TestRedriveAndRunQueued(t *testing.T) {
	ctx := context.Background()
	src := &memSource{images: map[string]v1.Image{"mem/debian:12": debianLike(t)}}
	d, st := newSteps(t, src)
	d.Dispatch = &dispatch.Queue{Store: st}
	ids, err := d.Plan(ctx, request("mem/debian:12"))
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := st.List(ctx, storekey.QueueStep(pipeline.StepAnalyzeLayer))
	if len(jobs) != 3 {
		t.Fatalf("%d layer jobs", len(jobs))
	}
	// The first job is lost: its object is gone before anyone ran it.
	st.Delete(ctx, jobs[0])
	for _, k := range jobs[1:] {
		if err := d.RunQueued(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := scanrecord.LoadState(ctx, st, ids[0])
	done, _ := st.List(ctx, storekey.DonePrefix(s.ID))
	have := map[string]bool{}
	for _, k := range done {
		have[strings.TrimPrefix(k, storekey.Scan(s.ID))] = true
	}
	if err := d.Redrive(ctx, s, func(name string) bool { return have[name] }); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		keys, _ := st.List(ctx, storekey.QueuePrefix)
		for _, k := range keys {
			if err := d.RunQueued(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := d.LoadResult(ctx, s.ID)
	if err != nil || !r.Complete {
		t.Fatalf("after the re-drive: %+v %v", r, err)
	}
	// A job object already consumed, and one of a scan that is gone, are done.
	if err := d.RunQueued(ctx, jobs[1]); err != nil {
		t.Errorf("consumed job: %v", err)
	}
	if err := dispatch.Enqueue(ctx, d.Dispatch, pipeline.ReportJob{ScanID: "20260101T000000Z-gone"}); err != nil {
		t.Fatal(err)
	}
	left, _ := st.List(ctx, storekey.QueuePrefix)
	if len(left) != 1 {
		t.Fatalf("queue %v", left)
	}
	if err := d.RunQueued(ctx, left[0]); err != nil {
		t.Errorf("job of a gone scan: %v", err)
	}
	if left, _ := st.List(ctx, storekey.QueuePrefix); len(left) != 0 {
		t.Errorf("the job of a gone scan stays: %v", left)
	}
}

// TestStateOfAGoneScan: loading the state of an ID that names another key
// or no scan is ErrScanGone, never a read elsewhere.
func TestStateOfAGoneScan(t *testing.T) {
	_, st := newSteps(t, &memSource{})
	for _, id := range []string{"", "../x", "a/b", "nope"} {
		if _, err := scanrecord.LoadState(context.Background(), st, id); !errors.Is(err, scanrecord.ErrScanGone) {
			t.Errorf("%q: %v", id, err)
		}
	}
}

// flaky fails with ENOSPC until told otherwise, as a full TMPDIR does.
type flaky struct{ full *atomic.Bool }

func (flaky) Name() string                       { return "flaky" }
func (flaky) Version() int                       { return 1 }
func (flaky) Wants(p string, _ fs.FileMode) bool { return p == "etc/os-release" }
func (f flaky) Analyze(context.Context, analyzer.Input) ([]scan.Artifact, error) {
	if f.full.Load() {
		return nil, fmt.Errorf("spool: %w", syscall.ENOSPC)
	}
	return nil, nil
}

// TestTransientFailureIsNotCached: a layer whose analysis hit a machine
// failure (no space left) records nothing, so a retry analyses it again.
func TestTransientFailureIsNotCached(t *testing.T) {
	ctx := context.Background()
	src := &memSource{images: map[string]v1.Image{"mem/debian:12": debianLike(t)}}
	d, st := newSteps(t, src)
	full := &atomic.Bool{}
	full.Store(true)
	d.Analyzers = analyzer.NewSet(osrelease.Analyzer{}, dpkg.Analyzer{}, flaky{full})
	rec := &recorder{}
	d.Dispatch = rec
	ids, err := d.Plan(ctx, request("mem/debian:12"))
	if err != nil {
		t.Fatal(err)
	}
	first := rec.jobs[0]
	if err := d.Handlers().Run(ctx, first); !errors.Is(err, analyzer.ErrTransient) {
		t.Fatalf("a full disk: %v", err)
	}
	if keys, _ := st.List(ctx, storekey.LayersPrefix); len(keys) != 0 {
		t.Errorf("facts cached after a transient failure: %v", keys)
	}
	if _, ok, _ := scanrecord.LoadMarker(ctx, st, ids[0], scanDiffID(t, st, ids[0], 0)); ok {
		t.Error("a marker was written after a transient failure")
	}
	full.Store(false)
	if err := d.Handlers().Run(ctx, first); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if keys, _ := st.List(ctx, storekey.LayersPrefix); len(keys) != 1 {
		t.Errorf("facts after the retry: %v", keys)
	}
}

func scanDiffID(t *testing.T, st store.Store, id string, i int) string {
	s, err := scanrecord.LoadState(context.Background(), st, id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Layers[i].DiffID
}

// BenchmarkManyLayers scans images of 100 and 400 tiny layers: the time
// per layer must not grow with the layer count (it did, quadratically,
// when every layer job re-read the scan's state).
func BenchmarkManyLayers(b *testing.B) {
	for _, n := range []int{100, 400} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			img, err := random.Image(64, int64(n))
			if err != nil {
				b.Fatal(err)
			}
			src := &memSource{images: map[string]v1.Image{"mem/many:1": img}}
			for i := 0; i < b.N; i++ {
				d, _ := newSteps(b, src)
				if _, err := d.ScanLocal(context.Background(), request("mem/many:1"), 2); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/layer")
		})
	}
}

// lagging hides objects from the first reads, as a store whose reads lag
// its notifications does.
type lagging struct {
	store.Store
	hidden map[string]int
}

func (l *lagging) Get(ctx context.Context, key string) ([]byte, error) {
	if l.hidden[key] > 0 {
		l.hidden[key]--
		return nil, store.ErrNotFound
	}
	return l.Store.Get(ctx, key)
}

// TestRunQueuedWaitsForALateObject: a job whose object a notification
// announced before the store shows it is run, not taken as done; one
// still unreadable after the waits is taken as run by an earlier delivery.
func TestRunQueuedWaitsForALateObject(t *testing.T) {
	ctx := context.Background()
	d, st := newSteps(t, &memSource{})
	d.VisibilityWaits = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	if err := dispatch.Enqueue(ctx, &dispatch.Queue{Store: st}, pipeline.ReportJob{ScanID: "20260101T000000Z-gone"}); err != nil {
		t.Fatal(err)
	}
	left, _ := st.List(ctx, storekey.QueuePrefix)
	lag := &lagging{Store: st, hidden: map[string]int{left[0]: 2}}
	d.Store = lag
	if err := d.RunQueued(ctx, left[0]); err != nil {
		t.Fatal(err)
	}
	if left, _ := st.List(ctx, storekey.QueuePrefix); len(left) != 0 {
		t.Errorf("the late job object was taken as done, not run: %v", left)
	}
	lag.hidden["queue/build-report/x.json"] = 10
	if err := d.RunQueued(ctx, "queue/build-report/x.json"); err != nil {
		t.Errorf("a job object gone for good: %v", err)
	}
}

func TestWaitsUpTo(t *testing.T) {
	var sum time.Duration
	for _, w := range pipeline.WaitsUpTo(3 * time.Second) {
		sum += w
	}
	if sum != 3*time.Second || len(pipeline.WaitsUpTo(0)) != 0 {
		t.Errorf("%v", pipeline.WaitsUpTo(3*time.Second))
	}
}

// markerReads counts the reads of done markers.
type markerReads struct {
	store.Store
	n atomic.Int64
}

func (m *markerReads) Get(ctx context.Context, k string) ([]byte, error) {
	if strings.Contains(k, "/done/") {
		m.n.Add(1)
	}
	return m.Store.Get(ctx, k)
}

// TestRematchReadsMarkersFromTheResult: a re-match reads a scan's layer
// statuses from its result, in one request, and falls back to the markers
// for a result written without them.
func TestRematchReadsMarkersFromTheResult(t *testing.T) {
	ctx := context.Background()
	src := &memSource{images: map[string]v1.Image{"mem/debian:12": debianLike(t)}}
	d, st := newSteps(t, src)
	if _, err := d.ScanLocal(ctx, request("mem/debian:12"), 2); err != nil {
		t.Fatal(err)
	}
	var scanID string
	keys, _ := st.List(ctx, storekey.ScansPrefix)
	for _, k := range keys {
		if id, f, ok := storekey.ScanFile(k); ok && f == storekey.ResultFile {
			scanID = id
		}
	}
	res, ok, err := scanrecord.LoadResult(ctx, st, scanID)
	if err != nil || !ok || len(res.Layers) != 3 {
		t.Fatalf("result of %q: %+v %v %v", scanID, res, ok, err)
	}
	counted := &markerReads{Store: st}
	rm := &pipeline.Steps{Store: counted}
	if err := rm.Rematch(ctx, "t1", []pipeline.RematchItem{{Item: 0, ScanID: scanID}}); err != nil {
		t.Fatal(err)
	}
	if n := counted.n.Load(); n != 0 {
		t.Errorf("the re-match read %d markers", n)
	}
	res.Layers = nil // as written before results kept them
	store.PutJSON(ctx, st, storekey.Result(scanID), res)
	if err := rm.Rematch(ctx, "t2", []pipeline.RematchItem{{Item: 0, ScanID: scanID}}); err != nil {
		t.Fatal(err)
	}
	if n := counted.n.Load(); n != 3 {
		t.Errorf("an older result: %d markers read, want 3", n)
	}
}
