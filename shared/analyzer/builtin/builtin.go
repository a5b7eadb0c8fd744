// Package builtin assembles the analyzer set every layerscan binary runs.
package builtin

import (
	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/analyzer/apk"
	"github.com/layerscan/layerscan/shared/analyzer/dpkg"
	"github.com/layerscan/layerscan/shared/analyzer/osrelease"
	"github.com/layerscan/layerscan/shared/analyzer/rpm"
)

// Set returns the default analyzer set.
func Set() *analyzer.Set {
	return analyzer.NewSet(osrelease.Analyzer{}, dpkg.Analyzer{}, apk.Analyzer{}, rpm.Analyzer{})
}
