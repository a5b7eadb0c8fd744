// Command registry-events is the registry-events function: ACR push events
// from EventBridge arrive as event invocations, registry webhooks (ACR
// classic, Harbor, Distribution) on its HTTP trigger; each image pushed is
// resolved to its digest and queued for scan-image.
package main

import (
	"context"
	"encoding/json"

	"github.com/layerscan/layerscan/shared/cloudenv"
	"github.com/layerscan/layerscan/shared/platform"
)

func main() {
	env, creds := cloudenv.MustEnv("registry-events")
	platform.Run(platform.Function{
		Name: "registry-events",
		Event: func(ctx context.Context, body []byte) ([]byte, error) {
			out, err := env.RegistryEvent(ctx, body)
			if err != nil {
				return nil, err
			}
			return json.Marshal(out)
		},
		HTTP:        env.WebhookHandler(),
		Credentials: creds,
	})
}
