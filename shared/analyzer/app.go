package analyzer

import (
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/layerscan/layerscan/shared/scan"
)

// AppPackage builds a language package. name is the ecosystem's own full
// name (a Go module path, "@scope/pkg", "group:artifact", "vendor/pkg"); the
// purl splits it into namespace and name the way each purl type wants.
func AppPackage(purlType, name, version, file string) scan.Package {
	ns, short := "", name
	switch purlType {
	case packageurl.TypeGolang, packageurl.TypeComposer, packageurl.TypeNPM:
		if i := strings.LastIndex(name, "/"); i > 0 {
			ns, short = name[:i], name[i+1:]
		}
	case packageurl.TypeMaven:
		if g, a, ok := strings.Cut(name, ":"); ok {
			ns, short = g, a
		}
	}
	return scan.Package{
		Name: name, Version: version, Type: purlType, Path: file,
		PURL: packageurl.NewPackageURL(purlType, ns, short, version, nil, "").ToString(),
	}
}

// Lenient wraps what a language-file parser read into the file's artifact.
// A parse error becomes the artifact's warning, keeping the packages read
// before it: application trees are full of test fixtures and templates, and
// one odd lockfile must not make a whole report incomplete.
func Lenient(path, kind string, pkgs []scan.Package, err error) ([]scan.Artifact, error) {
	a := scan.Artifact{Path: path, Kind: kind, Packages: pkgs}
	if err != nil {
		a.Warning = err.Error()
	}
	return []scan.Artifact{a}, nil
}
