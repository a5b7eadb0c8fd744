package store

import (
	"fmt"
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
	case "oss", "s3":
		// The OSS and S3 backends are the next part of the serverless-suite
		// issue; refusing beats writing somewhere unexpected.
		return nil, fmt.Errorf("store URL %q: the %s backend is not built yet; use file:///path", raw, u.Scheme)
	}
	return nil, fmt.Errorf("store URL %q: scheme must be file, oss or s3", raw)
}
