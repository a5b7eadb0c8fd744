package source

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Selected is one platform image of an artifact.
type Selected struct {
	Name   string
	Digest v1.Hash
	Image  v1.Image
}

// maxIndexDepth bounds nested indexes: a hostile index could nest forever.
const maxIndexDepth = 4

// maxIndexEntries bounds the images of an index: real ones list a few
// platforms (and their attestations); 5,000 is an attack on time.
const maxIndexEntries = 256

type candidate struct {
	in   v1.ImageIndex // the index that lists it: only it can open it
	desc v1.Descriptor
}

// Select returns the images of an artifact that o selects: the image
// itself, or the images of an index (nested indexes included) for
// o.Platform (linux/amd64 when empty) or every platform. An index of
// exactly one image with no platform recorded, or one image of any
// platform when none was asked for, yields that image.
func Select(a *Artifact, o Options) ([]Selected, error) {
	if a.Index == nil {
		if a.Image == nil {
			return nil, fmt.Errorf("%s: neither an image nor an index", a.Name)
		}
		return []Selected{{Name: a.Name, Digest: a.Digest, Image: a.Image}}, nil
	}
	want := o.Platform
	if want == "" {
		want = "linux/amd64"
	}
	wantP, err := v1.ParsePlatform(want)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", want, err)
	}
	var cands []candidate
	if err := collect(a.Index, 0, &cands); err != nil {
		return nil, fmt.Errorf("%s: %w", a.Name, err)
	}
	var picked []candidate
	var seen []string
	for _, c := range cands {
		p := c.desc.Platform
		if p == nil {
			seen = append(seen, "(unspecified)")
		} else {
			seen = append(seen, p.String())
		}
		if o.AllPlatforms || (p != nil && p.Satisfies(*wantP)) {
			picked = append(picked, c)
		}
	}
	if len(picked) == 0 && len(cands) == 1 && (cands[0].desc.Platform == nil || o.Platform == "") {
		picked = cands // a lone image: scan it whatever its platform
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("%s: no image for platform %s (available: %s)", a.Name, want, strings.Join(seen, ", "))
	}
	out := make([]Selected, 0, len(picked))
	for _, c := range picked {
		img, err := c.in.Image(c.desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %w", a.Name, c.desc.Digest, err)
		}
		out = append(out, Selected{Name: a.Name, Digest: c.desc.Digest, Image: img})
	}
	return out, nil
}

// collect lists the images of an index and of the indexes it nests.
func collect(ix v1.ImageIndex, depth int, out *[]candidate) error {
	if depth > maxIndexDepth {
		return errors.New("image index nested too deeply")
	}
	m, err := ix.IndexManifest()
	if err != nil {
		return err
	}
	if len(*out)+len(m.Manifests) > maxIndexEntries {
		return fmt.Errorf("the image index lists over %d manifests", maxIndexEntries)
	}
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := ix.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			if err := collect(child, depth+1, out); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			// attestation manifests of buildx carry platform unknown/unknown
			if d.Platform != nil && d.Platform.OS == "unknown" {
				continue
			}
			*out = append(*out, candidate{in: ix, desc: d})
		}
	}
	return nil
}
