// Package storeurl opens the store a LAYERSCAN_STORE URL names. It is the
// one place that links the cloud SDKs: the CLI, which only ever uses a local
// folder, stays without them.
package storeurl

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/store/ossstore"
	"github.com/layerscan/layerscan/shared/store/s3store"
)

// Open opens the store a LAYERSCAN_STORE URL names: file:///path (or a plain
// path) is the local folder; oss://bucket/prefix and s3://bucket/prefix are
// the cloud backends. An oss:// store signs with ossCreds (nil: the
// ALIBABA_CLOUD_ACCESS_KEY_ID, _SECRET and ALIBABA_CLOUD_SECURITY_TOKEN of
// the environment); the FC adapter updates them on every request.
func Open(raw string, ossCreds *ossstore.Credentials) (store.Store, error) {
	if raw == "" {
		return nil, fmt.Errorf("store: no URL (set LAYERSCAN_STORE)")
	}
	if !strings.Contains(raw, "://") {
		abs, err := filepath.Abs(raw)
		if err != nil {
			return nil, err
		}
		return store.NewFS(abs)
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
		return store.NewFS(u.Path)
	case "oss":
		endpoint := os.Getenv("LAYERSCAN_OSS_ENDPOINT")
		if endpoint == "" {
			if region := firstEnv("ALIBABA_CLOUD_REGION", "FC_REGION"); region != "" {
				// Functions reach OSS in their own region over the internal network.
				endpoint = "https://oss-" + region + "-internal.aliyuncs.com"
			}
		}
		if ossCreds == nil {
			ossCreds = EnvCredentials()
		}
		return ossstore.New(u.Host, strings.TrimPrefix(u.Path, "/"), ossstore.Options{Endpoint: endpoint, Credentials: ossCreds})
	case "s3":
		return s3store.New(context.Background(), u.Host, strings.TrimPrefix(u.Path, "/"), s3store.Options{Endpoint: os.Getenv("LAYERSCAN_S3_ENDPOINT")})
	}
	return nil, fmt.Errorf("store URL %q: scheme must be file, oss or s3", raw)
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// EnvCredentials are Alibaba Cloud credentials from the environment, where
// a function's start or a developer puts them.
func EnvCredentials() *ossstore.Credentials {
	c := &ossstore.Credentials{}
	c.Set(os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), os.Getenv("ALIBABA_CLOUD_SECURITY_TOKEN"))
	return c
}
