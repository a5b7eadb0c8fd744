// Package platform starts a function on whichever platform runs it: the
// Lambda runtime API when AWS_LAMBDA_RUNTIME_API is set, else the Function
// Compute custom-runtime HTTP server (which is also how the functions run
// on one machine and in the end-to-end tests).
package platform

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/layerscan/layerscan/shared/platform/fc"
	"github.com/layerscan/layerscan/shared/platform/lambda"
)

// Credentials receives the role's temporary credentials that Function
// Compute sends with every request and rotates (the OSS store signs with
// them); ossstore.Credentials is one.
type Credentials interface {
	Set(id, secret, token string)
}

// Function is one function: its event handler, its HTTP handler, or both.
type Function struct {
	Name  string
	Event func(ctx context.Context, event []byte) ([]byte, error)
	HTTP  http.Handler
	// Credentials, when set, is handed each FC request's credentials.
	Credentials Credentials
}

func (f Function) useCredentials(inv fc.Invocation) {
	if c := inv.Creds; c.AccessKeyID != "" && f.Credentials != nil {
		f.Credentials.Set(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken)
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
			f.useCredentials(inv)
			return f.Event(ctx, body)
		}
	}
	if f.HTTP != nil {
		fn.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if inv, ok := fc.FromContext(r.Context()); ok {
				f.useCredentials(inv)
			}
			f.HTTP.ServeHTTP(w, r)
		})
	}
	if err := fc.Serve(fn); err != nil {
		logger.Fatal(err)
	}
}
