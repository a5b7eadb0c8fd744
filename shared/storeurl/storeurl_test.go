package storeurl

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/store/s3store"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"file://" + dir, dir, filepath.Join(dir, "sub")} {
		s, err := Open(u, nil)
		if _, ok := s.(*store.FS); err != nil || !ok {
			t.Errorf("%s: %T %v", u, s, err)
		}
	}
	t.Setenv("AWS_REGION", "us-west-2")
	if s, err := Open("s3://bucket/prefix", nil); err != nil {
		t.Errorf("s3: %v", err)
	} else if _, ok := s.(*s3store.S3); !ok {
		t.Errorf("s3: %T", s)
	}
	t.Setenv("LAYERSCAN_OSS_ENDPOINT", "")
	t.Setenv("ALIBABA_CLOUD_REGION", "")
	t.Setenv("FC_REGION", "")
	for u, want := range map[string]string{
		"":               "LAYERSCAN_STORE",
		"ftp://x/y":      "scheme",
		"file://host/x":  "local path",
		"oss://bucket/p": "endpoint",
	} {
		if _, err := Open(u, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error about %s", u, err, want)
		}
	}
}
