package store

import (
	"context"
	"fmt"
	"os"
	"net/url"
	"path/filepath"
	"strings"
)

// Open opens the store a LAYERSCAN_STORE URL names: file:///path (or a plain
// path) is the local folder; oss://bucket/prefix and s3://bucket/prefix are
// the cloud backends.
func Open(raw string) (Store, error) {
	if raw == "" {
		return nil, fmt.Errorf("store: no URL (set LAYERSCAN_STORE)")
	}
	if !strings.Contains(raw, "://") {
		abs, err := filepath.Abs(raw)
		if err != nil {
			return nil, err
		}
		return NewFS(abs)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("store URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("store URL %q: file URLs name a local path (file:///path)", raw)
		}
		return NewFS(u.Path)
	case "oss":
		endpoint := os.Getenv("LAYERSCAN_OSS_ENDPOINT")
		if endpoint == "" {
			if region := firstEnv("ALIBABA_CLOUD_REGION", "FC_REGION"); region != "" {
				// Functions reach OSS in their own region over the internal network.
				endpoint = "https://oss-" + region + "-internal.aliyuncs.com"
			}
		}
		return NewOSS(u.Host, strings.TrimPrefix(u.Path, "/"), OSSOptions{Endpoint: endpoint, Credentials: DefaultOSSCredentials})
	case "s3":
		return NewS3(context.Background(), u.Host, strings.TrimPrefix(u.Path, "/"), S3Options{Endpoint: os.Getenv("LAYERSCAN_S3_ENDPOINT")})
	}
	return nil, fmt.Errorf("store URL %q: scheme must be file, oss or s3", raw)
}

// DefaultOSSCredentials are the credentials oss:// stores sign with: from
// ALIBABA_CLOUD_ACCESS_KEY_ID, _SECRET and ALIBABA_CLOUD_SECURITY_TOKEN at
// start, then the role's temporary credentials of each Function Compute
// invocation (the runtime adapter sets them).
var DefaultOSSCredentials = func() *OSSCredentials {
	c := &OSSCredentials{}
	c.Set(os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), os.Getenv("ALIBABA_CLOUD_SECURITY_TOKEN"))
	return c
}()

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
