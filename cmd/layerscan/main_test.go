package main

import (
	"io"
	"runtime"
	"testing"
)

// TestServeWorkers: LAYERSCAN_WORKERS sizes the pool of `layerscan serve`
// (it used to be documented and never read); --workers overrides it.
func TestServeWorkers(t *testing.T) {
	for _, c := range []struct {
		env  string
		args []string
		want int
	}{
		{"", nil, runtime.NumCPU()},
		{"3", nil, 3},
		{"3", []string{"--workers", "5"}, 5},
	} {
		t.Setenv("LAYERSCAN_WORKERS", c.env)
		o, err := parseServeFlags(append([]string{"--store", t.TempDir()}, c.args...), io.Discard)
		if err != nil || o.cfg.Workers != c.want {
			t.Errorf("LAYERSCAN_WORKERS=%q %v: %+v %v, want %d workers", c.env, c.args, o, err, c.want)
		}
	}
	t.Setenv("LAYERSCAN_WORKERS", "many")
	if _, err := parseServeFlags(nil, io.Discard); err == nil {
		t.Error("LAYERSCAN_WORKERS=many was accepted")
	}
}
