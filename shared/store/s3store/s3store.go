// Package s3store is the Store on an S3 bucket (AWS, or any S3-compatible
// server such as MinIO).
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/layerscan/layerscan/shared/store"
)

// S3 is the store on an S3 bucket under a key prefix. Create-once is a
// conditional PUT (If-None-Match: *), which S3 and MinIO answer with 412
// when the key exists.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
}

// Options configure the client beyond the SDK's default chain (which
// reads AWS_REGION, the credentials of a Lambda role, AWS_ENDPOINT_URL_S3).
type Options struct {
	// Endpoint of an S3-compatible server (MinIO); path-style addressing.
	Endpoint string
	Region   string
	// Credentials, when set, replace the default chain.
	AccessKeyID, SecretAccessKey, SessionToken string
}

// NewS3 opens bucket/prefix.
func New(ctx context.Context, bucket, prefix string, o Options) (*S3, error) {
	if bucket == "" {
		return nil, errors.New("s3 store: no bucket")
	}
	var loadOpts []func(*awsconfig.LoadOptions) error
	if o.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(o.Region))
	}
	if o.AccessKeyID != "" {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey, SessionToken: o.SessionToken, Source: "layerscan"}, nil
		})))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 store: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
			so.UsePathStyle = true
		}
	})
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}, nil
}

func (s *S3) key(k string) (string, error) {
	if err := store.CheckKey(k); err != nil {
		return "", err
	}
	return s.prefix + k, nil
}

// StoreKey implements store.ObjectKeyer.
func (s *S3) StoreKey(bucket, objectKey string) (string, bool) {
	k, ok := strings.CutPrefix(objectKey, s.prefix)
	if bucket != s.bucket || !ok || store.CheckKey(k) != nil {
		return "", false
	}
	return k, true
}

func s3Code(err error) (string, int) {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re interface{ HTTPStatusCode() int }
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		if code, status := s3Code(err); code == "NoSuchKey" || status == http.StatusNotFound {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("s3 get %s: %w", key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &k, Body: bytes.NewReader(data)}); err != nil {
		return fmt.Errorf("s3 put %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent implements Store with a conditional PUT.
func (s *S3) PutIfAbsent(ctx context.Context, key string, data []byte) (bool, error) {
	k, err := s.key(key)
	if err != nil {
		return false, err
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &k, Body: bytes.NewReader(data), IfNoneMatch: aws.String("*")})
	if err == nil {
		return true, nil
	}
	// 412: the key exists. 409: a concurrent conditional write is in
	// flight; the other writer is the one that creates it.
	if code, status := s3Code(err); status == http.StatusPreconditionFailed || status == http.StatusConflict || code == "PreconditionFailed" || code == "ConditionalRequestConflict" {
		return false, nil
	}
	return false, fmt.Errorf("s3 put-if-absent %s: %w", key, err)
}

// Exists implements Store with a HEAD.
func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	k, err := s.key(key)
	if err != nil {
		return false, err
	}
	_, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if err == nil {
		return true, nil
	}
	if code, status := s3Code(err); code == "NotFound" || code == "NoSuchKey" || status == http.StatusNotFound {
		return false, nil
	}
	return false, fmt.Errorf("s3 head %s: %w", key, err)
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	p := s.prefix + prefix
	var out []string
	pg := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &p})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3 list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if o.Key != nil {
				out = append(out, strings.TrimPrefix(*o.Key, s.prefix))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil {
		if _, status := s3Code(err); status == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("s3 delete %s: %w", key, err)
	}
	return nil
}
