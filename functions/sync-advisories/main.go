// Command sync-advisories is the sync-advisories function: on its timer it
// publishes the malware signatures and a new advisory DB version.
package main

import (
	"github.com/layerscan/layerscan/shared/platform"
	"github.com/layerscan/layerscan/shared/suite"
)

func main() {
	env := suite.MustEnv("sync-advisories")
	platform.Run(platform.Function{Name: "sync-advisories", Event: env.SyncAdvisories, Credentials: env.Credentials})
}
