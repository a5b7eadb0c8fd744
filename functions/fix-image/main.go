// Command fix-image is the fix-image function: triggered by a job object
// under queue/fix-image/, it builds one fixed image from the distribution's
// signed archive, verifies it by a rescan, pushes it and records the
// outcome in its fix task.
package main

import (
	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/platform"
	"github.com/layerscan/layerscan/shared/suite"
)

func main() {
	env, creds := cloudenv.MustEnv(suite.StepFix)
	platform.Run(platform.Function{Name: suite.StepFix, Event: env.StepWorker(suite.StepFix), Credentials: creds})
}
