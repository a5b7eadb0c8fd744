// Package runtime starts a function on whichever platform runs it: the
// Lambda runtime API when AWS_LAMBDA_RUNTIME_API is set, else the Function
// Compute custom-runtime HTTP server (which is also how the functions run
// on one machine and in the end-to-end tests).
package runtime

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/layerscan/layerscan/shared/runtime/fc"
	"github.com/layerscan/layerscan/shared/runtime/lambda"
	"github.com/layerscan/layerscan/shared/store/ossstore"
)

// Function is one function: its event handler, its HTTP handler, or both.
type Function struct {
	Name  string
	Event func(ctx context.Context, event []byte) ([]byte, error)
	HTTP  http.Handler
}

// useCredentials hands the role's temporary credentials of an FC
// invocation to the OSS store: FC sends them with every request and
// rotates them.
func useCredentials(inv fc.Invocation) {
	if c := inv.Creds; c.AccessKeyID != "" {
		ossstore.DefaultCredentials.Set(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken)
	}
}

// Run serves the function until the platform stops it.
func Run(f Function) {
	logger := log.New(os.Stderr, f.Name+" ", log.LstdFlags|log.LUTC)
	if lambda.Detected() {
		lambda.Start(lambda.Handler(f.Event), f.HTTP)
		return
	}
	fn := &fc.Function{Log: logger}
	if f.Event != nil {
		fn.Invoke = func(ctx context.Context, inv fc.Invocation, body []byte) ([]byte, error) {
			useCredentials(inv)
			return f.Event(ctx, body)
		}
	}
	if f.HTTP != nil {
		fn.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if inv, ok := fc.FromContext(r.Context()); ok {
				useCredentials(inv)
			}
			f.HTTP.ServeHTTP(w, r)
		})
	}
	if err := fc.Serve(fn); err != nil {
		logger.Fatal(err)
	}
}
