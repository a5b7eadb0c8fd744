// Package squash merges per-layer facts into the view of the final image
// file system: upper layers replace lower ones path by path, whiteouts and
// opaque directories delete, and every package keeps the layer that
// introduced it.
package squash

import (
	"path"
	"sort"
	"strings"

	"github.com/layerscan/layerscan/shared/digest"
	"github.com/layerscan/layerscan/shared/scan"
)

// Image is the squashed view of one image.
type Image struct {
	// Artifacts of the final file system, by path and kind (see Key).
	Artifacts map[string]scan.Artifact
	// Packages of the final file system with LayerDiffID set, sorted by path then name.
	Packages []scan.Package
	// LayerFindings are content findings of every layer, deleted files included.
	LayerFindings []scan.Finding
	// Findings are the findings of the artifacts of the final file system.
	Findings []scan.Finding
	// Errors are artifact errors that survive in the final file system.
	Errors []string
	// Warnings are per-file problems that do not make the scan incomplete.
	Warnings []string
	// OSOwned counts language packages dropped because their file belongs
	// to an OS package (see scan.Artifact.Files).
	OSOwned int
}

// Key is the state key of an artifact: several analyzers may read one file
// (a binary is both a Go and a Rust candidate) and each keeps its own result.
func Key(path, kind string) string { return path + "\x00" + kind }

// Squash merges facts given bottom layer first.
func Squash(layers []*scan.LayerFacts) *Image {
	state := map[string]scan.Artifact{}
	// intro remembers, per kind and package key, the layer that introduced it.
	intro := map[string]string{}
	img := &Image{}
	for _, lf := range layers {
		if lf == nil {
			continue
		}
		for _, d := range lf.OpaqueDirs {
			img.keepInBlob(removeTree(state, d, false), "hidden by an opaque directory in layer "+digest.Short(lf.DiffID))
		}
		for _, w := range lf.Whiteouts {
			img.keepInBlob(removeTree(state, w, true), "deleted by layer "+digest.Short(lf.DiffID))
		}
		live := presentKeys(state)
		for _, a := range lf.Artifacts {
			if len(a.Findings) > 0 {
				a.Findings = append([]scan.Finding(nil), a.Findings...)
				for i := range a.Findings {
					if a.Findings[i].LayerDiffID == "" {
						a.Findings[i].LayerDiffID = lf.DiffID
					}
					if a.Findings[i].Path == "" {
						a.Findings[i].Path = a.Path
					}
				}
			}
			if old, ok := state[Key(a.Path, a.Kind)]; ok {
				img.keepInBlob([]scan.Artifact{old}, "replaced by layer "+digest.Short(lf.DiffID))
			}
			for i := range a.Packages {
				k := a.Kind + "\x00" + a.Packages[i].Key()
				if prev, ok := intro[k]; ok && live[k] {
					a.Packages[i].LayerDiffID = prev
				} else {
					a.Packages[i].LayerDiffID = lf.DiffID
				}
			}
			state[Key(a.Path, a.Kind)] = a
		}
		// Record introductions only after the layer is applied, so that a
		// package moving between files of the same layer keeps its origin.
		for _, a := range lf.Artifacts {
			for _, p := range a.Packages {
				intro[a.Kind+"\x00"+p.Key()] = p.LayerDiffID
			}
		}
		for _, f := range lf.Findings {
			if f.LayerDiffID == "" {
				f.LayerDiffID = lf.DiffID
			}
			img.LayerFindings = append(img.LayerFindings, f)
		}
	}
	img.Artifacts = state
	paths := make([]string, 0, len(state))
	for p := range state {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		a := state[p]
		if a.Error != "" {
			img.Errors = append(img.Errors, a.Path+": "+a.Error)
		}
		if a.Warning != "" {
			img.Warnings = append(img.Warnings, a.Path+": "+a.Warning)
		}
		img.Packages = append(img.Packages, a.Packages...)
		img.Findings = append(img.Findings, a.Findings...)
	}
	img.Packages = dropShadowed(img.Packages)
	img.Packages, img.OSOwned = dropOSOwned(img.Packages, state)
	return img
}

// usrMerged are the top-level directories that merged-/usr systems link into
// /usr: a package database may name either spelling of one file.
var usrMerged = []string{"bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/"}

// dropOSOwned removes language packages read from files that an OS package
// installed (python3-urllib3's egg-info, a distro's Go binaries): the OS
// advisories cover them with the distro's own, backported versions.
func dropOSOwned(pkgs []scan.Package, state map[string]scan.Artifact) ([]scan.Package, int) {
	owned := map[string]bool{}
	for _, a := range state {
		for _, f := range a.Files {
			owned[f] = true
			for _, d := range usrMerged {
				if strings.HasPrefix(f, d) {
					owned["usr/"+f] = true
				} else if strings.HasPrefix(f, "usr/"+d) {
					owned[f[len("usr/"):]] = true
				}
			}
		}
	}
	if len(owned) == 0 {
		return pkgs, 0
	}
	out, n := pkgs[:0], 0
	for _, p := range pkgs {
		file, _, _ := strings.Cut(p.Path, "!/") // a jar inside an archive: the archive's file
		if !p.IsOS() && owned[file] {
			n++
			continue
		}
		out = append(out, p)
	}
	return out, n
}

// dropShadowed removes lockfile packages that add nothing: the same version
// installed inside the lockfile's project (D/package-lock.json beside
// D/node_modules/x/package.json), or repeated by a second lockfile of the
// same project (package-lock.json and node_modules/.package-lock.json).
// Installed packages and lockfile packages of other projects all stay: the
// same package at two places is two findings.
func dropShadowed(pkgs []scan.Package) []scan.Package {
	installed := map[string][]string{}
	for _, p := range pkgs {
		if !p.Lockfile {
			k := p.Key()
			installed[k] = append(installed[k], p.Path)
		}
	}
	declared := map[string]bool{}
	out := pkgs[:0]
	for _, p := range pkgs {
		if p.Lockfile {
			d := path.Dir(p.Path)
			if path.Base(d) == "node_modules" {
				d = path.Dir(d)
			}
			prefix := d + "/"
			if d == "." {
				prefix = ""
			}
			k := p.Key()
			if declared[prefix+"\x00"+k] || installedUnder(installed[k], prefix) {
				continue
			}
			declared[prefix+"\x00"+k] = true
		}
		out = append(out, p)
	}
	return out
}

func installedUnder(paths []string, prefix string) bool {
	for _, p := range paths {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// presentKeys lists the kind+package keys the current file system holds.
func presentKeys(state map[string]scan.Artifact) map[string]bool {
	keys := map[string]bool{}
	for _, a := range state {
		for _, p := range a.Packages {
			keys[a.Kind+"\x00"+p.Key()] = true
		}
	}
	return keys
}

// keepInBlob moves the findings of removed artifacts whose risk ships with
// the lower layer's bytes (secrets, malware) to the layer findings.
func (img *Image) keepInBlob(removed []scan.Artifact, why string) {
	for _, a := range removed {
		for _, f := range a.Findings {
			if f.Category.InBlob() {
				f.Evidence = strings.TrimSpace(f.Evidence + " [" + why + "; the bytes remain in the image]")
				img.LayerFindings = append(img.LayerFindings, f)
			}
		}
	}
}

// removeTree deletes dir's content (and dir itself when self is set) and
// returns what it removed.
func removeTree(state map[string]scan.Artifact, dir string, self bool) []scan.Artifact {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	var removed []scan.Artifact
	for k, a := range state {
		if (self && a.Path == dir) || strings.HasPrefix(a.Path, prefix) {
			removed = append(removed, a)
			delete(state, k)
		}
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i].Path < removed[j].Path })
	return removed
}
