package ocilayout

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/layerscan/layerscan/shared/source"
)

// TestNestedIndex: index.json points at an image index, as buildx, skopeo
// --all and crane write layouts; selection descends into it and every
// selected image, and each of its layers, opens.
func TestNestedIndex(t *testing.T) {
	amd, _ := random.Image(512, 2)
	arm, _ := random.Image(512, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "example.com/team/multi:1"})); err != nil {
		t.Fatal(err)
	}
	ref := source.Ref{Kind: source.KindOCILayout, Location: dir}
	a, err := Opener{}.Open(context.Background(), ref, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "example.com/team/multi:1" {
		t.Errorf("name %s", a.Name)
	}
	digest := func(img v1.Image) v1.Hash { h, _ := img.Digest(); return h }
	for _, c := range []struct {
		o    source.Options
		want []v1.Hash
	}{
		{source.Options{}, []v1.Hash{digest(amd)}},
		{source.Apply(source.WithPlatform("linux/arm64")), []v1.Hash{digest(arm)}},
		{source.Apply(source.WithAllPlatforms(true)), []v1.Hash{digest(amd), digest(arm)}},
	} {
		sel, err := source.Select(a, c.o)
		if err != nil {
			t.Fatalf("%+v: %v", c.o, err)
		}
		if len(sel) != len(c.want) {
			t.Fatalf("%+v: %d images", c.o, len(sel))
		}
		for i, s := range sel {
			if s.Digest != c.want[i] {
				t.Errorf("%+v: image %d is %s", c.o, i, s.Digest)
			}
			m, err := s.Image.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range m.Layers {
				ly, err := Opener{}.Layer(context.Background(), ref, l.Digest, source.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if d, _ := ly.Digest(); d != l.Digest {
					t.Errorf("layer %s opened as %s", l.Digest, d)
				}
			}
		}
	}
	if _, err := source.Select(a, source.Apply(source.WithPlatform("linux/s390x"))); err == nil {
		t.Error("a missing platform was selected")
	}
}

// TestIndexEntriesAreBounded: an index of thousands of images is refused
// at once, not walked.
func TestIndexEntriesAreBounded(t *testing.T) {
	img, _ := random.Image(64, 1)
	var adds []mutate.IndexAddendum
	for i := range 300 {
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: fmt.Sprint("arch", i)}}})
	}
	dir := t.TempDir()
	p, _ := layout.Write(dir, empty.Index)
	p.AppendIndex(mutate.AppendManifests(empty.Index, adds...))
	a, err := Opener{}.Open(context.Background(), source.Ref{Location: dir}, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := source.Select(a, source.Apply(source.WithAllPlatforms(true))); err == nil || !strings.Contains(err.Error(), "over 256") {
		t.Errorf("300 entries: %v", err)
	}
}
