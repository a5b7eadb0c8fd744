// Command periodic-scan is the periodic-scan function: on its timer it
// enumerates the repositories and tags in scope (config/periodic.json in
// the store) and queues a scan of each.
package main

import (
	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/platform"
)

func main() {
	env, creds := cloudenv.MustEnv("periodic-scan")
	platform.Run(platform.Function{Name: "periodic-scan", Event: env.PeriodicScan, Credentials: creds})
}
