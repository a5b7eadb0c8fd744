// Command scan-api is the scan-api function: on-demand scans, scan
// progress and reports over its HTTP trigger.
package main

import (
	"github.com/layerscan/layerscan/shared/runtime"
	"github.com/layerscan/layerscan/shared/suite"
)

func main() {
	env := suite.MustEnv("scan-api")
	runtime.Run(runtime.Function{Name: "scan-api", HTTP: env.APIHandler()})
}
