// Command scan-api is the scan-api function: on-demand scans, scan
// progress and reports over its HTTP trigger.
package main

import (
	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/platform"
)

func main() {
	env, creds := cloudenv.MustEnv("scan-api")
	platform.Run(platform.Function{Name: "scan-api", HTTP: env.APIHandler(), Credentials: creds})
}
