// Command periodic-scan is the periodic-scan function: on its timer it
// enumerates the repositories and tags in scope (config/periodic.json in
// the store) and queues a scan of each.
package main

import (
	"github.com/layerscan/layerscan/shared/platform"
	"github.com/layerscan/layerscan/shared/suite"
)

func main() {
	env := suite.MustEnv("periodic-scan")
	platform.Run(platform.Function{Name: "periodic-scan", Event: env.PeriodicScan, Credentials: env.Credentials})
}
