package match

import (
	"fmt"
	"strings"

	"github.com/layerscan/layerscan/shared/scan"
)

// How a vulnerability with a fixed version can be fixed (Finding.Fixable).
const (
	// FixImage: layerscan builds the fixed image (POST /v1/images/{digest}/fix).
	FixImage = "image"
	// FixCommands: apply the remediation commands; layerscan cannot build
	// the image for this package's kind or distribution.
	FixCommands = "commands"
	// FixNone: no fixed version is known.
	FixNone = "none"
)

// ImageFamilies are the distributions whose packages a fix can install
// into an image: dpkg databases are plain text layerscan rewrites. apk and
// rpm images get commands (docs/fix.md says why).
var ImageFamilies = map[string]bool{"debian": true, "ubuntu": true}

// Fixable says how a vulnerability of p with a fixed version is fixed.
func Fixable(os *scan.OS, p scan.Package) string {
	if p.Type == "deb" && os != nil && ImageFamilies[os.Family] {
		return FixImage
	}
	return FixCommands
}

// Remediation is the command that installs the fixed version of p.
func Remediation(os *scan.OS, p scan.Package, fixed string) string {
	family := ""
	if os != nil {
		family = os.Family
	}
	switch p.Type {
	case "deb":
		return fmt.Sprintf("apt-get update && apt-get install --only-upgrade -y %s=%s", p.Name, debBinaryVersion(p, fixed))
	case "apk":
		return fmt.Sprintf("apk add --upgrade %s=%s", p.Name, fixed)
	case "rpm":
		switch family {
		case "sles", "opensuse-leap", "opensuse-tumbleweed":
			return fmt.Sprintf("zypper install -y %s=%s", p.Name, fixed)
		case "fedora":
			return fmt.Sprintf("dnf upgrade -y %s-%s", p.Name, fixed)
		case "mariner", "azurelinux":
			return fmt.Sprintf("tdnf update -y %s-%s", p.Name, fixed)
		}
		return fmt.Sprintf("yum update -y %s-%s", p.Name, fixed)
	case "golang":
		if p.Name == "stdlib" {
			return fmt.Sprintf("rebuild the binary with Go %s or later", strings.TrimPrefix(fixed, "v"))
		}
		return fmt.Sprintf("go get %s@v%s && go mod tidy, then rebuild", p.Name, strings.TrimPrefix(fixed, "v"))
	case "npm":
		return fmt.Sprintf("npm install %s@%s", p.Name, fixed)
	case "pypi":
		return fmt.Sprintf("pip install %s==%s", p.Name, fixed)
	case "gem":
		return fmt.Sprintf("bundle update %s (to %s or later)", p.Name, fixed)
	case "composer":
		return fmt.Sprintf("composer require %s:^%s", p.Name, fixed)
	case "cargo":
		return fmt.Sprintf("cargo update -p %s --precise %s", p.Name, fixed)
	case "nuget":
		return fmt.Sprintf("dotnet add package %s --version %s", p.Name, fixed)
	case "maven":
		return fmt.Sprintf("upgrade %s to %s in the build file", p.Name, fixed)
	}
	return fmt.Sprintf("upgrade %s to %s", p.Name, fixed)
}

// debBinaryVersion carries a binNMU suffix (+bN) over to the fixed source
// version when the installed binary had one, since apt wants binary versions.
func debBinaryVersion(p scan.Package, fixedSource string) string {
	if p.SourceVersion != "" && p.Version != p.SourceVersion && strings.HasPrefix(p.Version, p.SourceVersion+"+b") {
		return fixedSource + "*"
	}
	return fixedSource
}
