package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDetect: local paths are never registry references.
func TestDetect(t *testing.T) {
	dir := t.TempDir()
	tarball := filepath.Join(dir, "img.tar")
	os.WriteFile(tarball, nil, 0o644)
	for arg, kind := range map[string]string{
		dir: KindOCILayout, tarball: KindDockerArchive,
		"registry.example.com/team/app:1": KindRegistry, "alpine": KindRegistry, "localhost:5000/x@sha256:ab": KindRegistry,
	} {
		ref, err := Detect(arg, false)
		if err != nil || ref.Kind != kind {
			t.Errorf("%s: %+v %v, want %s", arg, ref, err, kind)
		}
	}
	for _, arg := range []string{"./missing.tar", "../x", "/no/such/layout", "~/img.tar", "missing.tar", "image.tgz", "."} {
		if arg == "." {
			continue // exists
		}
		if _, err := Detect(arg, false); err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("%s: %v, want no such file", arg, err)
		}
	}
}
