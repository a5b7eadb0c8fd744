package test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/store/s3store"
	"github.com/layerscan/layerscan/shared/updater"
)

// minioPath is the MinIO server make deps builds (LAYERSCAN_MINIO overrides).
func minioPath(t testing.TB) string {
	if p := os.Getenv("LAYERSCAN_MINIO"); p != "" {
		return p
	}
	home, _ := os.UserCacheDir()
	p := filepath.Join(home, "layerscan-tools", "bin", "minio")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("minio is not built: make deps builds it")
	}
	t.Skip("minio is not built")
	return ""
}

// The bus's MinIO: one bucket, the store under the "fleet" prefix.
const busBucket, busUser, busPass = "layerscan-store", "layerscan", "layerscan-secret"

// webhook is a MinIO notification target: job objects under
// queue/<step>/ are posted to url/invoke.
type webhook struct{ step, id, url string }

// busEnv is what a function process needs to use the bus's store through
// endpoint (MinIO itself or a proxy in front of it).
func busEnv(endpoint string) []string {
	return []string{
		"LAYERSCAN_STORE=s3://" + busBucket + "/fleet", "LAYERSCAN_S3_ENDPOINT=" + endpoint,
		"AWS_ACCESS_KEY_ID=" + busUser, "AWS_SECRET_ACCESS_KEY=" + busPass, "AWS_REGION=us-east-1",
	}
}

// startMinIOBus starts MinIO on the loopback port with a webhook target per
// hook (each with its own retry queue, as MinIO retries a delivery the
// target refused), creates the bucket, routes every hook's prefix to it and
// returns the store, loaded with the corpus advisory DB.
func startMinIOBus(t testing.TB, port string, hooks []webhook) *s3store.S3 {
	t.Helper()
	endpoint := "http://127.0.0.1:" + port
	env := append(os.Environ(), "MINIO_ROOT_USER="+busUser, "MINIO_ROOT_PASSWORD="+busPass, "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	var queues []s3types.QueueConfiguration
	for _, h := range hooks {
		env = append(env, "MINIO_NOTIFY_WEBHOOK_ENABLE_"+h.id+"=on", "MINIO_NOTIFY_WEBHOOK_ENDPOINT_"+h.id+"="+h.url+"/invoke",
			"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_"+h.id+"="+t.TempDir(), "MINIO_NOTIFY_WEBHOOK_QUEUE_LIMIT_"+h.id+"=100000")
		queues = append(queues, s3types.QueueConfiguration{
			QueueArn: aws.String("arn:minio:sqs::" + h.id + ":webhook"), Events: []s3types.Event{"s3:ObjectCreated:*"},
			Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: []s3types.FilterRule{{Name: "prefix", Value: aws.String("fleet/queue/" + h.step + "/")}}}},
		})
	}
	cmd := exec.Command(minioPath(t), "server", "--quiet", "--address", "127.0.0.1:"+port, t.TempDir())
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if resp, err := http.Get(endpoint + "/minio/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 300 {
			t.Fatal("minio did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := context.Background()
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(busUser, busPass, ""),
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(busBucket)}); err != nil {
		t.Fatal(err)
	}
	// MinIO brings its targets online after it reports ready: until then
	// their ARNs are unknown.
	for i := 0; ; i++ {
		_, err := client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: aws.String(busBucket), NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: queues},
		})
		if err == nil {
			break
		}
		if i > 100 {
			t.Fatalf("bucket notifications: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := s3store.New(ctx, busBucket, "fleet", s3store.Options{Endpoint: endpoint, Region: "us-east-1", AccessKeyID: busUser, SecretAccessKey: busPass})
	if err != nil {
		t.Fatal(err)
	}
	copyDBTo(t, st)
	return st
}

// TestMinIONotificationsDriveTheFunctions: no relay. MinIO's own bucket
// notifications (webhook targets on queue/<step>/) invoke the function
// binaries in FC custom-runtime mode, with the S3 store on the same MinIO;
// every layer and report job is notified twice, and a scan submitted as a
// job object still ends in exactly one claim and one report.
func TestMinIONotificationsDriveTheFunctions(t *testing.T) {
	minioPath(t)
	host := startDebianRegistryOrGGCR(t)
	push(t, corpusDebian(t), host+"/team/app:1.0")

	port := freePort(t)
	env := append(busEnv("http://127.0.0.1:"+port), "LAYERSCAN_INSECURE_REGISTRIES="+host, "LAYERSCAN_BOOTSTRAP_KEY="+bootstrapKey)
	steps := []string{pipeline.StepScanImage, pipeline.StepAnalyzeLayer, pipeline.StepBuildReport}
	bin := buildFunctions(t, steps...)
	var hooks []webhook
	for _, step := range steps {
		fn := startFunction(t, bin, step, env)
		id := strings.ToUpper(strings.ReplaceAll(step, "-", ""))
		hooks = append(hooks, webhook{step, id, fn.url})
		if step != pipeline.StepScanImage {
			// A second target on the same prefix: every layer and report
			// job is delivered twice, as MinIO's retries may.
			hooks = append(hooks, webhook{step, id + "DUP", fn.url})
		}
	}
	st := startMinIOBus(t, port, hooks)
	ctx := context.Background()
	// The scan is one job object; from here only MinIO moves the work.
	req := scanrecord.Request{Source: source.Ref{Kind: source.KindRegistry, Location: host + "/team/app:1.0", Insecure: true}, AllPlatforms: true, Trigger: "test"}
	if err := dispatch.Enqueue(ctx, &dispatch.Queue{Store: st}, pipeline.ScanJob{Request: req}); err != nil {
		t.Fatal(err)
	}
	digest := "sha256:f29e67343e1276e29ce0678a1aade8948db247c64f64515dc0fa8f8310abae19"
	deadline := time.Now().Add(90 * time.Second)
	for {
		reports, _ := st.List(ctx, "reports/"+digest+"/")
		if len(reports) > 0 {
			break
		}
		if time.Now().After(deadline) {
			left, _ := st.List(ctx, "queue/")
			t.Fatalf("no report after 90 s; jobs left %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	claims := 0
	scans, _ := st.List(ctx, "scans/")
	for _, k := range scans {
		if strings.HasSuffix(k, "/claim") {
			claims++
		}
	}
	if claims != 1 {
		t.Errorf("%d claims, want 1", claims)
	}
	// Every job object is consumed.
	for i := 0; ; i++ {
		left, _ := st.List(ctx, "queue/")
		if len(left) == 0 {
			break
		}
		if i > 100 {
			t.Errorf("job objects left: %v", left)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// copyDBTo publishes the corpus advisory DB into a store.
func copyDBTo(t testing.TB, st store.Store) {
	t.Helper()
	u := &updater.Updater{Store: st}
	if _, err := u.SyncAdvisories(context.Background(), npmMirror(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := u.SyncSignatures(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}

// stallingRegistry holds the first GET of one of the given blobs until
// released, and says when it started: a function process is then killed
// in the middle of that job.
type stallingRegistry struct {
	next    http.Handler
	blobs   map[string]bool
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stallingRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if i := strings.LastIndex(r.URL.Path, "/blobs/"); i >= 0 && r.Method == http.MethodGet && s.blobs[r.URL.Path[i+len("/blobs/"):]] {
		first := false
		s.once.Do(func() { first = true })
		if first {
			close(s.started)
			<-s.release
			return // the connection the killed process held
		}
	}
	s.next.ServeHTTP(w, r)
}

// TestMinIOBusSurvivesAKilledInstance: the analyze-layer process is killed
// while it downloads a layer; MinIO's retry of the failed delivery reaches
// the instance started in its place, and the scan still ends in exactly
// one claim and one report.
func TestMinIOBusSurvivesAKilledInstance(t *testing.T) {
	minioPath(t)
	backend := startDebianRegistryOrGGCR(t)
	img := corpusDebian(t)
	push(t, img, backend+"/team/app:1.0")
	u, _ := url.Parse("http://" + backend)
	stall := &stallingRegistry{next: httputil.NewSingleHostReverseProxy(u), blobs: map[string]bool{}, started: make(chan struct{}), release: make(chan struct{})}
	for _, d := range layerDigests(t, img) {
		stall.blobs[d] = true
	}
	proxy := httptest.NewServer(stall)
	defer proxy.Close()
	host := strings.TrimPrefix(proxy.URL, "http://")

	port := freePort(t)
	env := append(busEnv("http://127.0.0.1:"+port), "LAYERSCAN_INSECURE_REGISTRIES="+host, "LAYERSCAN_BOOTSTRAP_KEY="+bootstrapKey)
	steps := []string{pipeline.StepScanImage, pipeline.StepAnalyzeLayer, pipeline.StepBuildReport}
	bin := buildFunctions(t, steps...)
	var hooks []webhook
	var layerPort string
	var layerProc *os.Process
	for _, step := range steps {
		p := freePort(t)
		fn, proc := startFunctionOn(t, bin, step, p, env)
		if step == pipeline.StepAnalyzeLayer {
			layerPort, layerProc = p, proc
		}
		hooks = append(hooks, webhook{step, strings.ToUpper(strings.ReplaceAll(step, "-", "")), fn.url})
	}
	st := startMinIOBus(t, port, hooks)
	ctx := context.Background()
	req := scanrecord.Request{Source: source.Ref{Kind: source.KindRegistry, Location: host + "/team/app:1.0", Insecure: true}, AllPlatforms: true, Trigger: "test"}
	if err := dispatch.Enqueue(ctx, &dispatch.Queue{Store: st}, pipeline.ScanJob{Request: req}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stall.started:
	case <-time.After(60 * time.Second):
		t.Fatal("no layer was fetched")
	}
	// Killed mid-job: the delivery fails, the job object stays.
	layerProc.Kill()
	layerProc.Wait()
	close(stall.release)
	startFunctionOn(t, bin, pipeline.StepAnalyzeLayer, layerPort, env)

	d, _ := img.Digest()
	deadline := time.Now().Add(120 * time.Second)
	for {
		if reports, _ := st.List(ctx, "reports/"+d.String()+"/"); len(reports) > 0 {
			break
		}
		if time.Now().After(deadline) {
			left, _ := st.List(ctx, "queue/")
			t.Fatalf("no report after the killed instance; jobs left %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	claims, results := 0, 0
	scans, _ := st.List(ctx, "scans/")
	for _, k := range scans {
		switch {
		case strings.HasSuffix(k, "/claim"):
			claims++
		case strings.HasSuffix(k, "/result.json"):
			results++
		}
	}
	if claims != 1 || results != 1 {
		t.Errorf("%d claims and %d results, want 1 and 1", claims, results)
	}
}
