package dockerarchive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerscan/layerscan/shared/source"
)

func openArtifact(t *testing.T, file string) (*source.Artifact, v1.Manifest) {
	t.Helper()
	a, err := Opener{}.Open(context.Background(), source.Ref{Kind: source.KindDockerArchive, Location: file}, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return a, *m
}

// checkLayers reads every layer back by digest and checks its bytes hash
// to that digest: the manifest made for the tarball tells the truth.
func checkLayers(t *testing.T, file string, m v1.Manifest) {
	t.Helper()
	for _, d := range m.Layers {
		l, err := Opener{}.Layer(context.Background(), source.Ref{Location: file}, d.Digest, source.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, _ := io.Copy(h, rc)
		rc.Close()
		if "sha256:"+hex.EncodeToString(h.Sum(nil)) != d.Digest.String() || n != d.Size {
			t.Errorf("layer %s: %d bytes hashing to %x", d.Digest, n, h.Sum(nil))
		}
	}
}

// TestGGCRTarball: go-containerregistry's tarball.Write stores gzip layers
// named by their digest; the image is named by its tag and config digest.
func TestGGCRTarball(t *testing.T) {
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "img.tar")
	tag, _ := name.NewTag("example.com/team/app:1")
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		t.Fatal(err)
	}
	a, m := openArtifact(t, file)
	cfgName, _ := img.ConfigName()
	if a.Name != "example.com/team/app:1" || a.Digest != cfgName || len(m.Layers) != 3 {
		t.Errorf("name %s digest %s, %d layers", a.Name, a.Digest, len(m.Layers))
	}
	want, _ := img.Manifest()
	for i, d := range m.Layers {
		if d.Digest != want.Layers[i].Digest || d.MediaType != types.DockerLayer {
			t.Errorf("layer %d: %+v, want %s", i, d, want.Layers[i].Digest)
		}
	}
	checkLayers(t, file, m)
}

// TestClassicSave: docker save's classic layout stores layers as plain
// tar (their digest is their diffID) and links repeated layers.
func TestClassicSave(t *testing.T) {
	layer := func(body string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, body)
		tw.Close()
		return b.Bytes()
	}
	l1, l2 := layer("one"), layer("two")
	diff := func(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{diff(l1), diff(l2), diff(l1)}}})
	manifest, _ := json.Marshal([]map[string]any{{"Config": "cfg.json", "RepoTags": nil, "Layers": []string{"a/layer.tar", "b/layer.tar", "c/layer.tar"}}})
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	add := func(n string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	add("a/layer.tar", l1)
	add("b/layer.tar", l2)
	tw.WriteHeader(&tar.Header{Name: "c/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../a/layer.tar"})
	add("cfg.json", cfg)
	add("manifest.json", manifest)
	tw.Close()
	file := filepath.Join(t.TempDir(), "save.tar")
	os.WriteFile(file, out.Bytes(), 0o644)
	a, m := openArtifact(t, file)
	if a.Name != file || len(m.Layers) != 3 {
		t.Fatalf("name %s, %d layers", a.Name, len(m.Layers))
	}
	for i, want := range []string{diff(l1), diff(l2), diff(l1)} {
		if m.Layers[i].Digest.String() != want || m.Layers[i].MediaType != types.DockerUncompressedLayer {
			t.Errorf("layer %d: %+v", i, m.Layers[i])
		}
	}
	checkLayers(t, file, m)
}

func TestNotATarball(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"empty.tar": "", "garbage.tar": "this is not a tar file at all",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := (Opener{}).Open(context.Background(), source.Ref{Location: p}, source.Options{}); err == nil {
			t.Errorf("%s opened", name)
		}
	}
}

func FuzzOpen(f *testing.F) {
	img, _ := random.Image(64, 1)
	var b bytes.Buffer
	tag, _ := name.NewTag("x/y:1")
	tarball.Write(tag, img, &b)
	f.Add(b.Bytes())
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		tmp, err := os.CreateTemp(dir, "f-*.tar")
		if err != nil {
			t.Fatal(err)
		}
		tmp.Write(data)
		tmp.Close()
		p := tmp.Name()
		defer os.Remove(p)
		a, err := Opener{}.Open(context.Background(), source.Ref{Location: p}, source.Options{})
		if err != nil {
			return
		}
		if _, err := a.Image.Manifest(); err != nil {
			t.Fatalf("opened but no manifest: %v", err)
		}
	})
}
