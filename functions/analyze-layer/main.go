// Command analyze-layer is the analyze-layer function: triggered by a job
// object under queue/analyze-layer/, it streams one layer blob once, writes
// the layer's facts and its done marker, and the last layer of a scan
// queues build-report.
package main

import (
	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/platform"
)

func main() {
	env, creds := cloudenv.MustEnv(pipeline.StepAnalyzeLayer)
	platform.Run(platform.Function{Name: pipeline.StepAnalyzeLayer, Event: env.StepWorker(pipeline.StepAnalyzeLayer), Credentials: creds})
}
