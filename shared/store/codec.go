package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Both coders are safe for concurrent EncodeAll/DecodeAll calls.
var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
)

// Compress zstd-encodes data (for *.zst keys).
func Compress(data []byte) []byte { return zenc.EncodeAll(data, nil) }

// Decompress reverses Compress; it refuses outputs over 1 GiB.
func Decompress(data []byte) ([]byte, error) { return zdec.DecodeAll(data, nil) }

// GetJSON reads a JSON object (zstd-compressed when the key ends in .zst).
func GetJSON(ctx context.Context, s Store, key string, v any) error {
	b, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	if len(key) > 4 && key[len(key)-4:] == ".zst" {
		if b, err = Decompress(b); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// encodeJSON marshals v, zstd-compressed when the key ends in .zst.
func encodeJSON(key string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if len(key) > 4 && key[len(key)-4:] == ".zst" {
		b = Compress(b)
	}
	return b, nil
}

// PutJSON writes v as JSON (zstd-compressed when the key ends in .zst).
func PutJSON(ctx context.Context, s Store, key string, v any) error {
	b, err := encodeJSON(key, v)
	if err != nil {
		return err
	}
	return s.Put(ctx, key, b)
}

// PutJSONIfAbsent is PutIfAbsent for a JSON value.
func PutJSONIfAbsent(ctx context.Context, s Store, key string, v any) (bool, error) {
	b, err := encodeJSON(key, v)
	if err != nil {
		return false, err
	}
	return s.PutIfAbsent(ctx, key, b)
}
