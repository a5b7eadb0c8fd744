// Command periodic-scan is the periodic-scan function: on its hourly
// timer it starts the scan cycle's task when one is due (the settings'
// cycle and scope) and advances open tasks.
package main

import (
	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/platform"
)

func main() {
	env, creds := cloudenv.MustEnv("periodic-scan")
	platform.Run(platform.Function{Name: "periodic-scan", Event: env.PeriodicScan, Credentials: creds})
}
