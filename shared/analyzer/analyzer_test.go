package analyzer

import (
	"context"
	"io/fs"
	"testing"

	"github.com/layerscan/layerscan/shared/layer"
	"github.com/layerscan/layerscan/shared/scan"
)

type fake struct {
	name string
	v    int
}

func (f fake) Name() string                 { return f.name }
func (f fake) Version() int                 { return f.v }
func (fake) Wants(string, fs.FileMode) bool { return false }
func (fake) Analyze(context.Context, Input) ([]scan.Artifact, error) {
	return nil, nil
}

// TestVersionIsHonest: everything that changes what the set makes of a
// layer changes its version, and nothing else does.
func TestVersionIsHonest(t *testing.T) {
	base := func() *Set { return NewSet(fake{"a", 1}, fake{"b", 1}) }
	v := base().Version()
	if NewSet(fake{"b", 1}, fake{"a", 1}).Version() != v {
		t.Error("the order of analyzers changed the version")
	}
	s := base()
	s.Limits = layer.DefaultLimits
	if s.Version() != v {
		t.Error("the default limits spelled out changed the version")
	}
	for name, change := range map[string]func(*Set){
		"analyzer bump":   func(s *Set) { *s = *NewSet(fake{"a", 2}, fake{"b", 1}) },
		"analyzer added":  func(s *Set) { *s = *NewSet(fake{"a", 1}, fake{"b", 1}, fake{"c", 1}) },
		"per-file cap":    func(s *Set) { s.MaxFileBytes = 1 << 20 },
		"entry limit":     func(s *Set) { s.Limits = layer.DefaultLimits; s.Limits.MaxEntries = 10 },
		"decompress cap":  func(s *Set) { s.Limits = layer.DefaultLimits; s.Limits.MaxUncompressedBytes = 1 << 30 },
		"path length cap": func(s *Set) { s.Limits = layer.DefaultLimits; s.Limits.MaxPathLen = 100 },
	} {
		s := base()
		change(s)
		if s.Version() == v {
			t.Errorf("%s kept the version %s", name, v)
		}
	}
}
