// Command build-report is the build-report function: triggered by a job
// object under queue/build-report/, it squashes a scan's layer facts,
// matches advisories, runs the checks and writes the report.
package main

import (
	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/platform"
)

func main() {
	env, creds := cloudenv.MustEnv(pipeline.StepBuildReport)
	platform.Run(platform.Function{Name: pipeline.StepBuildReport, Event: env.StepWorker(pipeline.StepBuildReport), Credentials: creds})
}
