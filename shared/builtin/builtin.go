// Package builtin assembles what every layerscan binary runs: the analyzer
// set and the image sources. It is the composition root of the analyzers,
// so it sits above them, outside shared/analyzer.
package builtin

import (
	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/analyzer/apk"
	"github.com/layerscan/layerscan/shared/analyzer/dotnet"
	"github.com/layerscan/layerscan/shared/analyzer/dpkg"
	"github.com/layerscan/layerscan/shared/analyzer/golang"
	"github.com/layerscan/layerscan/shared/analyzer/java"
	"github.com/layerscan/layerscan/shared/analyzer/npm"
	"github.com/layerscan/layerscan/shared/analyzer/osrelease"
	"github.com/layerscan/layerscan/shared/analyzer/php"
	"github.com/layerscan/layerscan/shared/analyzer/python"
	"github.com/layerscan/layerscan/shared/analyzer/rpm"
	"github.com/layerscan/layerscan/shared/analyzer/ruby"
	"github.com/layerscan/layerscan/shared/analyzer/rust"
	"github.com/layerscan/layerscan/shared/baseline"
	"github.com/layerscan/layerscan/shared/dockerarchive"
	"github.com/layerscan/layerscan/shared/malware"
	"github.com/layerscan/layerscan/shared/ocilayout"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/secret"
	"github.com/layerscan/layerscan/shared/source"
)

// Set returns the default analyzer set with the built-in signatures.
func Set() *analyzer.Set { return SetWith(malware.Loaded(malware.Builtin())) }

// SetWith returns the default analyzer set with a given signature set
// (the store's current one, see malware.Current).
func SetWith(sigs *malware.Signatures) *analyzer.Set {
	return analyzer.NewSet(Analyzers(sigs)...)
}

// Analyzers lists the default analyzers.
func Analyzers(sigs *malware.Signatures) []analyzer.Analyzer {
	return []analyzer.Analyzer{
		osrelease.Analyzer{}, dpkg.Analyzer{}, apk.Analyzer{}, rpm.Analyzer{},
		golang.Analyzer{}, npm.Analyzer{}, python.Analyzer{}, java.Analyzer{},
		ruby.Analyzer{}, php.Analyzer{}, rust.Analyzer{}, dotnet.Analyzer{},
		baseline.Analyzer{}, secret.Analyzer{}, malware.Analyzer{Sigs: sigs},
	}
}

// Sources opens every kind of image source: registries, OCI layouts and
// docker-save tarballs.
func Sources() source.Openers {
	return source.Openers{
		source.KindRegistry:      registry.Opener{},
		source.KindOCILayout:     ocilayout.Opener{},
		source.KindDockerArchive: dockerarchive.Opener{},
	}
}
