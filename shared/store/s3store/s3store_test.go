package s3store

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/layerscan/layerscan/shared/store/storetest"
)

// minioBinary finds the MinIO server `make deps` builds from the Go module
// proxy (LAYERSCAN_MINIO overrides).
func minioBinary() string {
	if p := os.Getenv("LAYERSCAN_MINIO"); p != "" {
		return p
	}
	home, _ := os.UserCacheDir()
	p := filepath.Join(home, "layerscan-tools", "bin", "minio")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	return ""
}

// startMinIO runs a real S3 server on loopback with a fresh data folder.
func startMinIO(t *testing.T) string {
	bin := minioBinary()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("minio is not built: make deps builds it")
		}
		t.Skip("minio is not built (make deps builds it from the Go module proxy)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, t.TempDir())
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=layerscan", "MINIO_ROOT_PASSWORD=layerscan-secret", "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 300; i++ {
		if resp, err := http.Get("http://" + addr + "/minio/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return "http://" + addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("minio did not become ready")
	return ""
}

func TestS3AgainstMinIO(t *testing.T) {
	endpoint := startMinIO(t)
	ctx := context.Background()
	opts := Options{Endpoint: endpoint, Region: "us-east-1", AccessKeyID: "layerscan", SecretAccessKey: "layerscan-secret"}
	s, err := New(ctx, "layerscan-store", "prefix", opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket}); err != nil {
		t.Fatal(err)
	}
	storetest.Contract(t, s)
	// Everything lives under the prefix.
	raw, _ := New(ctx, "layerscan-store", "", opts)
	keys, err := raw.List(ctx, "")
	if err != nil || len(keys) == 0 {
		t.Fatalf("%v %v", keys, err)
	}
	for _, k := range keys {
		if k[:7] != "prefix/" {
			t.Errorf("key %s outside the prefix", k)
		}
	}
}

func TestS3StoreKey(t *testing.T) {
	s := &S3{bucket: "bkt", prefix: "p/"}
	if k, ok := s.StoreKey("bkt", "p/queue/build-report/a.json"); !ok || k != "queue/build-report/a.json" {
		t.Errorf("%q %v", k, ok)
	}
	if _, ok := s.StoreKey("bkt", "queue/build-report/a.json"); ok {
		t.Error("a key outside the prefix was taken")
	}
	if _, ok := s.StoreKey("other", "p/queue/build-report/a.json"); ok {
		t.Error("another bucket's object was taken")
	}
}
