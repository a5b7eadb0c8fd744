// Package ossstore is the Store on an Alibaba Cloud OSS bucket.
package ossstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"

	"github.com/layerscan/layerscan/shared/store"
)

// OSS is the store on an Alibaba Cloud OSS bucket under a key prefix.
// Create-once is PutObject with x-oss-forbid-overwrite: true, which OSS
// answers with 409 FileAlreadyExists when the key exists. OSS ignores that
// header on a bucket whose versioning is enabled or suspended, so the store
// refuses such a bucket: markers and claims would silently stop being
// create-once.
type OSS struct {
	client      *oss.Client
	bucket      *oss.Bucket
	name        string
	prefix      string
	creds       *Credentials
	mu          sync.Mutex
	unversioned bool
}

// Credentials hold the credentials the OSS client signs with. Function
// Compute sends the role's temporary credentials with every request and
// rotates them; the runtime adapter calls Set on each invocation, and every
// request of the client signs with the newest.
type Credentials struct {
	mu                sync.RWMutex
	id, secret, token string
}

// Set replaces the credentials.
func (c *Credentials) Set(id, secret, token string) {
	c.mu.Lock()
	c.id, c.secret, c.token = id, secret, token
	c.mu.Unlock()
}

// GetCredentials implements oss.CredentialsProvider.
func (c *Credentials) GetCredentials() oss.Credentials {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return ossCreds{c.id, c.secret, c.token}
}

type ossCreds struct{ id, secret, token string }

func (c ossCreds) GetAccessKeyID() string     { return c.id }
func (c ossCreds) GetAccessKeySecret() string { return c.secret }
func (c ossCreds) GetSecurityToken() string   { return c.token }

// Options configure the OSS client.
type Options struct {
	// Endpoint such as https://oss-cn-hangzhou-internal.aliyuncs.com.
	Endpoint    string
	Credentials *Credentials
}

// NewOSS opens bucket/prefix and checks that the bucket is not versioned.
func New(bucket, prefix string, o Options) (*OSS, error) {
	if o.Endpoint == "" {
		return nil, errors.New("oss store: no endpoint (set LAYERSCAN_OSS_ENDPOINT, e.g. https://oss-cn-hangzhou-internal.aliyuncs.com)")
	}
	if o.Credentials == nil {
		o.Credentials = &Credentials{}
	}
	client, err := oss.New(o.Endpoint, "", "", oss.SetCredentialsProvider(o.Credentials))
	if err != nil {
		return nil, fmt.Errorf("oss store: %w", err)
	}
	b, err := client.Bucket(bucket)
	if err != nil {
		return nil, fmt.Errorf("oss store: %w", err)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &OSS{client: client, bucket: b, name: bucket, prefix: prefix, creds: o.Credentials}
	// On Function Compute the credentials arrive with the first request;
	// with credentials at hand the bucket is checked now.
	if o.Credentials.GetCredentials().GetAccessKeyID() != "" {
		if err := s.checkUnversioned(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkUnversioned refuses a bucket whose versioning is enabled or
// suspended; it runs before the first write and until it succeeds once.
func (s *OSS) checkUnversioned() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unversioned {
		return nil
	}
	v, err := s.client.GetBucketVersioning(s.name)
	if err != nil {
		return fmt.Errorf("oss store: versioning of bucket %s: %w", s.name, err)
	}
	if v.Status != "" {
		return fmt.Errorf("oss store: bucket %s has versioning %s: x-oss-forbid-overwrite is ignored on it, so create-once writes would not be; use a bucket that never had versioning", s.name, v.Status)
	}
	s.unversioned = true
	return nil
}

func (s *OSS) key(k string) (string, error) {
	if err := store.CheckKey(k); err != nil {
		return "", err
	}
	return s.prefix + k, nil
}

// StoreKey implements store.ObjectKeyer.
func (s *OSS) StoreKey(bucket, objectKey string) (string, bool) {
	k, ok := strings.CutPrefix(objectKey, s.prefix)
	if bucket != s.name || !ok || store.CheckKey(k) != nil {
		return "", false
	}
	return k, true
}

func ossStatus(err error) (string, int) {
	var se oss.ServiceError
	if errors.As(err, &se) {
		return se.Code, se.StatusCode
	}
	return "", 0
}

// Get implements Store.
func (s *OSS) Get(ctx context.Context, key string) ([]byte, error) {
	r, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Put implements Store.
func (s *OSS) Put(_ context.Context, key string, data []byte) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	if err := s.checkUnversioned(); err != nil {
		return err
	}
	if err := s.bucket.PutObject(k, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("oss put %s: %w", key, err)
	}
	return nil
}

// Open implements store.Streamer.
func (s *OSS) Open(_ context.Context, key string) (io.ReadCloser, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, err
	}
	r, err := s.bucket.GetObject(k)
	if err != nil {
		if code, status := ossStatus(err); code == "NoSuchKey" || status == http.StatusNotFound {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("oss get %s: %w", key, err)
	}
	return r, nil
}

// PutFrom implements store.Streamer. The stream is spooled to a temporary
// file first and uploaded from it: memory stays flat, and a stream that
// fails half-way uploads nothing (a chunked upload cut short is not
// reliably refused).
func (s *OSS) PutFrom(_ context.Context, key string, r io.Reader) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	if err := s.checkUnversioned(); err != nil {
		return err
	}
	f, err := os.CreateTemp("", "layerscan-put-")
	if err != nil {
		return fmt.Errorf("oss put %s: %w", key, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("oss put %s: %w", key, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("oss put %s: %w", key, err)
	}
	if err := s.bucket.PutObject(k, f); err != nil {
		return fmt.Errorf("oss put %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent implements Store with x-oss-forbid-overwrite.
func (s *OSS) PutIfAbsent(_ context.Context, key string, data []byte) (bool, error) {
	k, err := s.key(key)
	if err != nil {
		return false, err
	}
	if err := s.checkUnversioned(); err != nil {
		return false, err
	}
	err = s.bucket.PutObject(k, bytes.NewReader(data), oss.ForbidOverWrite(true))
	if err == nil {
		return true, nil
	}
	if code, status := ossStatus(err); code == "FileAlreadyExists" || status == http.StatusConflict {
		return false, nil
	}
	return false, fmt.Errorf("oss put-if-absent %s: %w", key, err)
}

// Exists implements Store with a HEAD.
func (s *OSS) Exists(_ context.Context, key string) (bool, error) {
	k, err := s.key(key)
	if err != nil {
		return false, err
	}
	ok, err := s.bucket.IsObjectExist(k)
	if err != nil {
		return false, fmt.Errorf("oss head %s: %w", key, err)
	}
	return ok, nil
}

// List implements Store.
func (s *OSS) List(_ context.Context, prefix string) ([]string, error) {
	p := s.prefix + prefix
	var out []string
	token := ""
	for {
		opts := []oss.Option{oss.Prefix(p), oss.MaxKeys(1000)}
		if token != "" {
			opts = append(opts, oss.ContinuationToken(token))
		}
		res, err := s.bucket.ListObjectsV2(opts...)
		if err != nil {
			return nil, fmt.Errorf("oss list %s: %w", prefix, err)
		}
		for _, o := range res.Objects {
			out = append(out, strings.TrimPrefix(o.Key, s.prefix))
		}
		if !res.IsTruncated || res.NextContinuationToken == "" {
			break
		}
		token = res.NextContinuationToken
	}
	sort.Strings(out)
	return out, nil
}

// Delete implements Store.
func (s *OSS) Delete(_ context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	if err := s.bucket.DeleteObject(k); err != nil {
		if _, status := ossStatus(err); status == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("oss delete %s: %w", key, err)
	}
	return nil
}
