// Command sync-advisories is the sync-advisories function: on its timer it
// publishes the malware signatures and a new advisory DB version.
package main

import (
	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/platform"
)

func main() {
	env, creds := cloudenv.MustEnv("sync-advisories")
	platform.Run(platform.Function{Name: "sync-advisories", Event: env.SyncAdvisories, Credentials: creds})
}
