package test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestMinIONotificationsDriveTheFunctions: no relay. MinIO's own bucket
// notifications (webhook targets on queue/<step>/) invoke the function
// binaries in FC custom-runtime mode, with the S3 store on the same MinIO;
// every layer and report job is notified twice, and a scan submitted as a
// job object still ends in exactly one claim and one report.
func TestMinIONotificationsDriveTheFunctions(t *testing.T) {
	minio := minioPath(t)
	host := startDebianRegistryOrGGCR(t)
	push(t, corpusDebian(t), host+"/team/app:1.0")

	const bucket, user, pass = "layerscan-store", "layerscan", "layerscan-secret"
	minioPort := freePort(t)
	endpoint := "http://127.0.0.1:" + minioPort
	env := []string{
		"LAYERSCAN_STORE=s3://" + bucket + "/fleet", "LAYERSCAN_S3_ENDPOINT=" + endpoint,
		"AWS_ACCESS_KEY_ID=" + user, "AWS_SECRET_ACCESS_KEY=" + pass, "AWS_REGION=us-east-1",
		"LAYERSCAN_INSECURE_REGISTRIES=" + host, "LAYERSCAN_BOOTSTRAP_KEY=" + bootstrapKey,
	}
	steps := []string{pipeline.StepScanImage, pipeline.StepAnalyzeLayer, pipeline.StepBuildReport}
	bin := buildFunctions(t, steps...)
	minioEnv := append(os.Environ(), "MINIO_ROOT_USER="+user, "MINIO_ROOT_PASSWORD="+pass, "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	var queuesOf []struct{ step, id string }
	for _, step := range steps {
		fn := startFunction(t, bin, step, env)
		ids := []string{strings.ToUpper(strings.ReplaceAll(step, "-", ""))}
		if step != pipeline.StepScanImage {
			// A second target on the same prefix: every layer and report
			// job is delivered twice, as MinIO's retries may.
			ids = append(ids, ids[0]+"DUP")
		}
		for _, id := range ids {
			queuesOf = append(queuesOf, struct{ step, id string }{step, id})
			// MinIO queues a delivery the target refused and retries it.
			minioEnv = append(minioEnv, "MINIO_NOTIFY_WEBHOOK_ENABLE_"+id+"=on", "MINIO_NOTIFY_WEBHOOK_ENDPOINT_"+id+"="+fn.url+"/invoke",
				"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_"+id+"="+t.TempDir())
		}
	}
	cmd := exec.Command(minio, "server", "--quiet", "--address", "127.0.0.1:"+minioPort, t.TempDir())
	cmd.Env = minioEnv
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
		Credentials: credentials.NewStaticCredentialsProvider(user, pass, ""),
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	var queues []s3types.QueueConfiguration
	for _, q := range queuesOf {
		queues = append(queues, s3types.QueueConfiguration{
			QueueArn: aws.String("arn:minio:sqs::" + q.id + ":webhook"), Events: []s3types.Event{"s3:ObjectCreated:*"},
			Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: []s3types.FilterRule{{Name: "prefix", Value: aws.String("fleet/queue/" + q.step + "/")}}}},
		})
	}
	if _, err := client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket), NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: queues},
	}); err != nil {
		t.Fatalf("bucket notifications: %v", err)
	}

	st, err := s3store.New(ctx, bucket, "fleet", s3store.Options{Endpoint: endpoint, Region: "us-east-1", AccessKeyID: user, SecretAccessKey: pass})
	if err != nil {
		t.Fatal(err)
	}
	copyDBTo(t, st)
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
