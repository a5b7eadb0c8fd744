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
)

// Function is one function: its event handler, its HTTP handler, or both.
type Function struct {
	Name  string
	Event func(ctx context.Context, event []byte) ([]byte, error)
	HTTP  http.Handler
}

// Run serves the function until the platform stops it.
func Run(f Function) {
	logger := log.New(os.Stderr, f.Name+" ", log.LstdFlags|log.LUTC)
	if lambda.Detected() {
		lambda.Start(lambda.Handler(f.Event), f.HTTP)
		return
	}
	fn := &fc.Function{HTTP: f.HTTP, Log: logger}
	if f.Event != nil {
		fn.Invoke = func(ctx context.Context, _ fc.Invocation, body []byte) ([]byte, error) { return f.Event(ctx, body) }
	}
	if err := fc.Serve(fn); err != nil {
		logger.Fatal(err)
	}
}
