// Package lambda is the AWS Lambda adapter: the same handlers as the FC
// adapter, through aws-lambda-go's runtime-API loop (build with the
// lambda.norpc tag, name the binary bootstrap, runtime provided.al2023).
// Credentials come from the environment (the SDK's default chain), not
// per request as on FC.
package lambda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"
)

// Handler takes a raw event.
type Handler func(ctx context.Context, event []byte) ([]byte, error)

// Detected tells whether the process runs under the Lambda runtime API.
func Detected() bool { return os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" }

// Start runs the Lambda loop; it never returns. An HTTP handler, when
// given, serves Function URL and API Gateway (payload 2.0) requests.
func Start(h Handler, web http.Handler) {
	awslambda.Start(adapter{h, web})
}

type adapter struct {
	h   Handler
	web http.Handler
}

// Invoke implements lambda.Handler.
func (a adapter) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if a.web != nil {
		var req events.LambdaFunctionURLRequest
		if json.Unmarshal(payload, &req) == nil && req.RequestContext.HTTP.Method != "" {
			return json.Marshal(serveHTTP(ctx, a.web, req))
		}
	}
	if a.h == nil {
		return nil, errNoEvents
	}
	return a.h(ctx, payload)
}

type errString string

func (e errString) Error() string { return string(e) }

const errNoEvents = errString("this function takes HTTP requests only")

// serveHTTP runs a Function URL request through an http.Handler.
func serveHTTP(ctx context.Context, h http.Handler, req events.LambdaFunctionURLRequest) events.LambdaFunctionURLResponse {
	path := req.RawPath
	if req.RawQueryString != "" {
		path += "?" + req.RawQueryString
	}
	body := req.Body
	if req.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(body); err == nil {
			body = string(b)
		}
	}
	r := httptest.NewRequestWithContext(ctx, req.RequestContext.HTTP.Method, path, strings.NewReader(body))
	for k, v := range req.Headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	headers := map[string]string{}
	for k := range w.Header() {
		headers[k] = w.Header().Get(k)
	}
	return events.LambdaFunctionURLResponse{StatusCode: w.Code, Headers: headers, Body: w.Body.String()}
}
