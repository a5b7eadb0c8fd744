package test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/layerscan/layerscan/shared/source"
)

// corruptImage writes an OCI layout whose second layer is a truncated gzip
// stream (its digest matches the truncated bytes, so only decompression can
// tell).
func corruptImage(t *testing.T) source.Ref {
	goodTar := tarOf(t, map[string]string{"etc/os-release": "ID=alpine\nVERSION_ID=3.9.0\n", "lib/apk/db/installed": "P:musl\nV:1.1.20-r3\no:musl\n\n"})
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	zw.Write(tarOf(t, map[string]string{"opt/big": strings.Repeat("layerscan ", 50000)}))
	zw.Close()
	truncated := gzBuf.Bytes()[:gzBuf.Len()/3]

	return layoutOfLayers(t,
		static.NewLayer(goodTar, types.OCIUncompressedLayer),
		static.NewLayer(truncated, types.OCILayer))
}

// TestCorruptLayerIsAReportedFailure builds an OCI layout whose second layer
// is a truncated gzip stream (its digest matches the truncated bytes, so only
// decompression can tell): the report must be incomplete and say which layer.
func TestCorruptLayerIsAReportedFailure(t *testing.T) {
	src := corruptImage(t)
	dir := src.Location
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	r := scanImage(t, storeDir, src)
	if r.Complete {
		t.Fatal("report of an image with a corrupt layer says complete")
	}
	if r.Layers[1].Status != "failed" || !strings.Contains(r.Layers[1].Error, "truncated") {
		t.Errorf("layer 1: %+v", r.Layers[1])
	}
	if r.Layers[0].Status != "analyzed" || len(r.Packages) != 1 {
		t.Errorf("the good layer was lost: %+v, %d packages", r.Layers[0], len(r.Packages))
	}
	if len(r.Errors) == 0 || !strings.Contains(r.Errors[0], "layer 1") {
		t.Errorf("errors %v", r.Errors)
	}

	// The failure must not be cached: a rescan tries the layer again.
	r2 := scanImage(t, storeDir, detect(t, dir))
	if r2.Layers[1].Status != "failed" || r2.Layers[0].Status != "cached" {
		t.Errorf("rescan layers %+v", r2.Layers)
	}

	// The CLI exits 3 on an incomplete report and still prints it.
	bin := buildCLI(t)
	cmd := exec.CommandContext(context.Background(), bin, "scan", "--store", storeDir, "--format", "json", "--quiet", dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit %v, want 3; stderr %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"complete": false`) || !strings.Contains(errOut.String(), "INCOMPLETE") {
		t.Errorf("stdout/stderr do not say incomplete:\n%s\n%s", out.String(), errOut.String())
	}
}

func buildCLI(t testing.TB) string {
	bin := filepath.Join(t.TempDir(), "layerscan")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/layerscan")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestCLISeverityAndExitCode runs the real binary on the Alpine corpus image.
func TestCLISeverityAndExitCode(t *testing.T) {
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	bin := buildCLI(t)
	img := filepath.Join(sharedDir(t), "corpus", "images", "alpine-3.9-app.tar")
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, append([]string{"scan", "--store", storeDir, "--quiet"}, args...)...)
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := run(img, "--exit-code", "7")
	if code != 7 || !strings.Contains(out, "CVE-2019-14697") || !strings.Contains(out, "apk add --upgrade musl=1.1.20-r5") {
		t.Errorf("exit %d, table:\n%s", code, out)
	}
	// Secdb records carry no severity, NVD rates CVE-2019-14697 CRITICAL
	// (9.8) and CVE-2019-1543 HIGH: a CRITICAL threshold admits the first,
	// and the empty root password of the base layer, not the second.
	out, code = run("--severity", "CRITICAL", "--exit-code", "7", "--format", "json", img)
	if code != 7 || !strings.Contains(out, "CVE-2019-14697") || strings.Contains(out, "CVE-2019-1543") || !strings.Contains(out, "LS-BASELINE-EMPTY-PASSWORD") {
		t.Errorf("--severity CRITICAL: exit %d\n%s", code, out)
	}
	if _, code = run("--severity", "bogus", img); code != 2 {
		t.Errorf("bad --severity exit %d, want 2", code)
	}
}
