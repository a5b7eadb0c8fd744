package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store/s3store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/suite"
)

// counter counts requests and response bytes on their way to a server.
type counter struct {
	requests, bytes atomic.Int64
	// writes, reads and deletes split requests as S3 bills them: PUT, POST,
	// COPY and LIST at one price; GET and HEAD at another; DELETE free.
	writes, reads, deletes atomic.Int64
	mu                     sync.Mutex
	kinds                  map[string]int // method and key area, when LAYERSCAN_FLEET_BREAKDOWN is set
}

func (c *counter) proxy(t testing.TB, target string) string {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.ContentLength > 0 {
			c.bytes.Add(r.ContentLength)
		}
		return nil
	}
	breakdown := os.Getenv("LAYERSCAN_FLEET_BREAKDOWN") != ""
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		switch {
		case r.Method == http.MethodDelete:
			c.deletes.Add(1)
		case r.Method == http.MethodPut, r.Method == http.MethodPost, r.URL.Query().Has("list-type"):
			c.writes.Add(1)
		default:
			c.reads.Add(1)
		}
		if breakdown {
			parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5)
			area := strings.Join(parts[:min(len(parts), 3)], "/")
			if r.URL.Query().Has("list-type") {
				area += "?" + r.URL.Query().Get("prefix")
				if i := strings.Index(area, "scans/"); i >= 0 {
					area = area[:i] + "scans/…"
				}
			}
			if i := strings.Index(area, "sha256:"); i >= 0 {
				area = area[:i] + "…"
			}
			c.mu.Lock()
			if c.kinds == nil {
				c.kinds = map[string]int{}
			}
			c.kinds[r.Method+" "+area]++
			c.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// roundRobin spreads a step's notifications over its function processes,
// as a platform spreads invocations over instances.
func roundRobin(t testing.TB, urls []string) string {
	var n atomic.Int64
	proxies := make([]*httputil.ReverseProxy, len(urls))
	for i, u := range urls {
		pu, _ := url.Parse(u)
		proxies[i] = httputil.NewSingleHostReverseProxy(pu)
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[int(n.Add(1))%len(proxies)].ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// fleet builds images the way registries share layers: one base (the
// corpus Debian image), a layer per repository, a layer per tag; n images
// in n/4 repositories of 4 tags.
func fleet(b *testing.B, host string, n int) (refs []string, totalBytes int64) {
	base := corpusDebian(b)
	repoLayer := func(i int) v1.Layer {
		return static.NewLayer(tarOf(b, map[string]string{fmt.Sprintf("app/repo-%d/package.json", i): fmt.Sprintf(`{"name":"app%d","version":"1.%d.0"}`, i, i), fmt.Sprintf("app/repo-%d/blob", i): strings.Repeat("r", 64<<10)}), types.OCIUncompressedLayer)
	}
	for i := 0; i < n; i++ {
		repo := i / 4
		img, err := mutate.AppendLayers(base, repoLayer(repo),
			static.NewLayer(tarOf(b, map[string]string{fmt.Sprintf("app/build-%d", i): fmt.Sprint(rand.Int64())}), types.OCIUncompressedLayer))
		if err != nil {
			b.Fatal(err)
		}
		ref := fmt.Sprintf("%s/fleet/app%03d:v%d", host, repo, i%4)
		push(b, img, ref)
		sz, _ := img.Size()
		ls, _ := img.Layers()
		for _, l := range ls {
			s, _ := l.Size()
			sz += s
		}
		totalBytes += sz
		refs = append(refs, ref)
	}
	return refs, totalBytes
}

// peakRSS reads a process's high-water resident set in KiB.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkFleet scans a fleet of 200 images through the real bus (MinIO
// notifications to the function binaries, N processes per step) and
// re-matches it after a DB update. It reports images per minute, blob
// bytes fetched over the images' total size, store requests per image
// (split as S3 bills them: writes and lists, reads, deletes), the largest
// peak RSS of a function process, the re-match (its wall time, the DB
// sync's and the planning's within it, and the functions' store requests
// per image), and a second scan cycle over the same, unchanged images.
func BenchmarkFleet(b *testing.B) {
	images := 200
	if v, err := strconv.Atoi(os.Getenv("LAYERSCAN_FLEET")); err == nil && v > 0 {
		images = v
	}
	for _, n := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprint("processes=", n), func(b *testing.B) {
			for range b.N {
				fleetRun(b, images, n)
			}
		})
	}
}

func fleetRun(b *testing.B, images, procs int) {
	b.StopTimer()
	minioPath(b)
	regAddr := startDebianRegistry(b)
	blobs := &counter{}
	regURL := blobs.proxy(b, "http://"+regAddr)
	host := strings.TrimPrefix(regURL, "http://")
	refs, total := fleet(b, host, images)

	port := freePort(b)
	s3c := &counter{}
	env := append(busEnv(s3c.proxy(b, "http://127.0.0.1:"+port)), "LAYERSCAN_INSECURE_REGISTRIES="+host)
	steps := []string{pipeline.StepScanImage, pipeline.StepAnalyzeLayer, pipeline.StepBuildReport}
	bin := buildFunctions(b, steps...)
	var pids []int
	var hooks []webhook
	for _, step := range steps {
		var urls []string
		for range procs {
			port := freePort(b)
			cmd := exec.Command(filepath.Join(bin, step))
			cmd.Env = append(append(os.Environ(), "FC_SERVER_PORT="+port, "LAYERSCAN_LISTEN_HOST=127.0.0.1"), env...)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			pids = append(pids, cmd.Process.Pid)
			urls = append(urls, "http://127.0.0.1:"+port)
		}
		time.Sleep(300 * time.Millisecond)
		hooks = append(hooks, webhook{step, strings.ToUpper(strings.ReplaceAll(step, "-", "")), roundRobin(b, urls)})
	}
	st := startMinIOBus(b, port, hooks)
	ctx := context.Background()
	blobs.bytes.Store(0)
	s3c.requests.Store(0)
	b.StartTimer()
	start := time.Now()
	enqueueScans(b, st, refs)
	waitReports(b, st, images, 20*time.Minute)
	scanWall := time.Since(start)
	b.StopTimer()
	requests, writes, reads, deletes := s3c.requests.Load(), s3c.writes.Load(), s3c.reads.Load(), s3c.deletes.Load()
	fetched := blobs.bytes.Load()
	if os.Getenv("LAYERSCAN_FLEET_BREAKDOWN") != "" {
		s3c.mu.Lock()
		for k, n := range s3c.kinds {
			if n >= images/2 {
				b.Logf("%6d %s", n, k)
			}
		}
		s3c.kinds = nil // the re-match's are logged on their own
		s3c.mu.Unlock()
	}
	// A DB update: the re-match of the whole fleet, through the same bus.
	e := newSuiteEnv(suite.Config{Store: "s3://" + busBucket + "/fleet", AdvisoryMirror: npmMirror(b)}, st, nil, nopLogger())
	rstart := time.Now()
	if _, err := e.SyncAdvisories(ctx, nil); err != nil {
		b.Fatal(err)
	}
	syncWall := time.Since(rstart)
	pstart := time.Now()
	v, err := e.StartRematch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	planWall := time.Since(pstart) // listing the fleet and queueing its batches
	for i := 0; ; i++ {
		tv, err := e.TaskView(ctx, v.ID)
		if err == nil && tv.Status != "running" {
			break
		}
		if i > 20000 {
			b.Fatal("the re-match never finished")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rematchWall := time.Since(rstart)
	rematchRequests := s3c.requests.Load() - requests
	rematchWrites, rematchReads := s3c.writes.Load()-writes, s3c.reads.Load()-reads
	if os.Getenv("LAYERSCAN_FLEET_BREAKDOWN") != "" {
		s3c.mu.Lock()
		for k, n := range s3c.kinds {
			if n >= images/2 {
				b.Logf("re-match: %6d %s", n, k)
			}
		}
		s3c.kinds = nil
		s3c.mu.Unlock()
	}
	// A scan cycle over the same fleet: every digest again, every layer's
	// facts and every report already stored (the steady state of periodic
	// scans of unchanged images).
	before, beforeW, beforeR, beforeD := s3c.requests.Load(), s3c.writes.Load(), s3c.reads.Load(), s3c.deletes.Load()
	wstart := time.Now()
	enqueueScans(b, st, refs)
	waitResults(b, st, 2*images, 20*time.Minute)
	warmWall := time.Since(wstart)
	warm, warmW, warmR, warmD := s3c.requests.Load()-before, s3c.writes.Load()-beforeW, s3c.reads.Load()-beforeR, s3c.deletes.Load()-beforeD
	if os.Getenv("LAYERSCAN_FLEET_BREAKDOWN") != "" {
		s3c.mu.Lock()
		for k, n := range s3c.kinds {
			if n >= images/2 {
				b.Logf("warm: %6d %s", n, k)
			}
		}
		s3c.mu.Unlock()
	}
	var rss int64
	for _, p := range pids {
		rss = max(rss, peakRSS(p))
	}
	b.ReportMetric(float64(images)/scanWall.Minutes(), "images/min")
	b.ReportMetric(float64(fetched)/float64(total), "fetched/size")
	b.ReportMetric(float64(requests)/float64(images), "store-req/image")
	b.ReportMetric(float64(writes)/float64(images), "write-req/image")
	b.ReportMetric(float64(reads)/float64(images), "read-req/image")
	b.ReportMetric(float64(deletes)/float64(images), "delete-req/image")
	b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
	b.ReportMetric(rematchWall.Seconds(), "rematch-s")
	b.ReportMetric(syncWall.Seconds(), "rematch-sync-s")
	b.ReportMetric(planWall.Seconds(), "rematch-plan-s")
	b.ReportMetric(float64(rematchRequests)/float64(images), "rematch-req/image")
	b.ReportMetric(float64(rematchWrites)/float64(images), "rematch-write-req/image")
	b.ReportMetric(float64(rematchReads)/float64(images), "rematch-read-req/image")
	b.ReportMetric(float64(images)/warmWall.Minutes(), "warm-images/min")
	b.ReportMetric(float64(warm)/float64(images), "warm-req/image")
	b.ReportMetric(float64(warmW)/float64(images), "warm-write-req/image")
	b.ReportMetric(float64(warmR)/float64(images), "warm-read-req/image")
	b.ReportMetric(float64(warmD)/float64(images), "warm-delete-req/image")
}

// enqueueScans queues a scan of each reference, as registry events would.
func enqueueScans(b *testing.B, st *s3store.S3, refs []string) {
	for _, ref := range refs {
		req := scanrecord.Request{Source: source.Ref{Kind: source.KindRegistry, Location: ref, Insecure: true}, Trigger: "bench"}
		if err := dispatch.Enqueue(context.Background(), &dispatch.Queue{Store: st}, pipeline.ScanJob{Request: req}); err != nil {
			b.Fatal(err)
		}
	}
}

// waitKeys waits until n keys under prefix are what counts says: images
// with a report, scans with a result.
func waitKeys(b *testing.B, st *s3store.S3, prefix string, counts func(key string) bool, n int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		keys, _ := st.List(context.Background(), prefix)
		got := 0
		for _, k := range keys {
			if counts(k) {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d under %s after %s", got, n, prefix, limit)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitReports waits until n images have a report.
func waitReports(b *testing.B, st *s3store.S3, n int, limit time.Duration) {
	waitKeys(b, st, storekey.ImagesPrefix, func(k string) bool { return strings.HasSuffix(k, "/latest.json") }, n, limit)
}

// waitResults waits until n scans have a result.
func waitResults(b *testing.B, st *s3store.S3, n int, limit time.Duration) {
	waitKeys(b, st, storekey.ScansPrefix, func(k string) bool {
		_, f, ok := storekey.ScanFile(k)
		return ok && f == storekey.ResultFile
	}, n, limit)
}
