// Package store is the object-store port: the only state layerscan keeps.
// Keys are slash-separated relative paths such as
// "layers/sha256:…/as1.json.zst".
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("object not found")

// Store is the object store every step reads and writes.
type Store interface {
	// Get returns the whole object or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put writes the object, replacing any previous one atomically.
	Put(ctx context.Context, key string, data []byte) error
	// PutIfAbsent creates the object only if no object has the key; created
	// reports whether this call created it.
	PutIfAbsent(ctx context.Context, key string, data []byte) (created bool, err error)
	// Exists reports whether an object exists without reading it (a HEAD on
	// OSS and S3), so cache checks cost no download.
	Exists(ctx context.Context, key string) (bool, error)
	// List returns every key that starts with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Streamer is implemented by stores that read and write objects as
// streams, so that a large object (a report) is not held whole in memory
// to be written or served.
type Streamer interface {
	// Open reads an object; a missing one is ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// PutFrom writes the object from r, replacing any previous one once r
	// has been read whole; an error from r writes nothing.
	PutFrom(ctx context.Context, key string, r io.Reader) error
}

// Open reads an object as a stream: the store's own, or its bytes.
func Open(ctx context.Context, s Store, key string) (io.ReadCloser, error) {
	if st, ok := s.(Streamer); ok {
		return st.Open(ctx, key)
	}
	b, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// PutEncoded writes what encode writes to key: streamed into the store
// when it can take a stream, else buffered.
func PutEncoded(ctx context.Context, s Store, key string, encode func(io.Writer) error) error {
	st, ok := s.(Streamer)
	if !ok {
		var buf bytes.Buffer
		if err := encode(&buf); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return s.Put(ctx, key, buf.Bytes())
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(encode(pw)) }()
	err := st.PutFrom(ctx, key, pr)
	pr.CloseWithError(errors.New("the store stopped reading"))
	return err
}

// ObjectKeyer is implemented by stores that live in a bucket under a key
// prefix (oss://bucket/prefix, s3://bucket/prefix): the bucket's event
// notifications name full object keys, which only the store can map back.
type ObjectKeyer interface {
	// StoreKey returns the store key of an object of the bucket, or false
	// when the object is not one of the store's.
	StoreKey(bucket, objectKey string) (string, bool)
}

// KeyOf maps an object named by a store notification to a store key. For a
// store without buckets (the local folder) object keys are store keys.
func KeyOf(s Store, bucket, objectKey string) (string, bool) {
	if k, ok := s.(ObjectKeyer); ok {
		return k.StoreKey(bucket, objectKey)
	}
	return objectKey, CheckKey(objectKey) == nil
}

// CheckKey rejects keys that could escape a backend's root or are ambiguous.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return fmt.Errorf("invalid store key %q", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("invalid store key %q", key)
		}
	}
	if strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("invalid store key %q", key)
	}
	return nil
}
