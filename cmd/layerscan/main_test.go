package main

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
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

// TestScanHelp: asked for, help goes to stdout with exit 0 and lists the
// formats; --list-formats prints them one per line; formats take any case.
func TestScanHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"scan", "--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "Usage: layerscan scan") || !strings.Contains(out.String(), "cyclonedx") || errb.Len() != 0 {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"scan", "--list-formats"}, &out, &errb); code != 0 || out.String() != "json\ntable\nsarif\ncyclonedx\nspdx\nhtml\n" {
		t.Errorf("--list-formats: %d %q", code, out.String())
	}
	if code := run(context.Background(), []string{"scan", "--format", "bogus", "x"}, &out, &errb); code != 2 {
		t.Errorf("a bad format: exit %d", code)
	}
}
