// Command scan-image is the scan-image function: triggered by the store's
// notification of a job object under queue/scan-image/, it resolves the
// image, records the scan and queues one analyze-layer job per uncached layer.
package main

import (
	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/platform"
)

func main() {
	env, creds := cloudenv.MustEnv(pipeline.StepScanImage)
	platform.Run(platform.Function{Name: pipeline.StepScanImage, Event: env.StepWorker(pipeline.StepScanImage), Credentials: creds})
}
