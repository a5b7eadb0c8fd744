// Command janitor is the janitor function: on its timer it re-drives scans
// stuck past LAYERSCAN_STUCK_AFTER and applies retention.
package main

import (
	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/platform"
)

func main() {
	env, creds := cloudenv.MustEnv("janitor")
	platform.Run(platform.Function{Name: "janitor", Event: env.Janitor, Credentials: creds})
}
