// Package fc is the Function Compute custom-runtime adapter: an HTTP server
// on 0.0.0.0:$FC_SERVER_PORT (9000 when unset) that takes event invocations
// as POST /invoke, HTTP-trigger requests on any other path, and the
// /initialize and /pre-stop lifecycle hooks. Errors are reported the way FC
// records them: HTTP status 404 with the x-fc-status: 404 header and a JSON
// error body. The role's temporary credentials, which FC sends with every
// request, reach the handler in the Invocation.
package fc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Credentials are the STS credentials of the function's role.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Invocation is what FC says about one request.
type Invocation struct {
	RequestID  string
	Function   string
	Region     string
	AccountID  string
	Qualifier  string
	RetryCount int
	Creds      Credentials
}

// FromRequest reads the x-fc-* headers.
func FromRequest(r *http.Request) Invocation {
	inv := Invocation{
		RequestID: r.Header.Get("x-fc-request-id"),
		Function:  r.Header.Get("x-fc-function-name"),
		Region:    r.Header.Get("x-fc-region"),
		AccountID: r.Header.Get("x-fc-account-id"),
		Qualifier: r.Header.Get("x-fc-qualifier"),
		Creds: Credentials{
			AccessKeyID:     r.Header.Get("x-fc-access-key-id"),
			AccessKeySecret: r.Header.Get("x-fc-access-key-secret"),
			SecurityToken:   r.Header.Get("x-fc-security-token"),
		},
	}
	inv.RetryCount, _ = strconv.Atoi(r.Header.Get("x-fc-retry-count"))
	return inv
}

type invKey struct{}

// WithInvocation puts an invocation into a context; handlers of HTTP
// triggers read it with FromContext.
func WithInvocation(ctx context.Context, inv Invocation) context.Context {
	return context.WithValue(ctx, invKey{}, inv)
}

// FromContext returns the invocation of a request, if any.
func FromContext(ctx context.Context) (Invocation, bool) {
	inv, ok := ctx.Value(invKey{}).(Invocation)
	return inv, ok
}

// Function is one function's behaviour.
type Function struct {
	// Invoke handles event invocations; nil means the function takes none.
	Invoke func(ctx context.Context, inv Invocation, event []byte) ([]byte, error)
	// HTTP handles HTTP-trigger requests (every path but the reserved ones).
	HTTP http.Handler
	// Initialize and PreStop are the lifecycle hooks, when configured.
	Initialize func(ctx context.Context, inv Invocation) error
	PreStop    func(ctx context.Context)
	// MaxEvent bounds an event body: FC's sync limit is 32 MB.
	MaxEvent int64
	Log      *log.Logger
}

// ErrorBody is what a failed invocation answers.
type ErrorBody struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// Handler returns the HTTP handler of the custom-runtime contract.
func (f *Function) Handler() http.Handler {
	logger := f.Log
	if logger == nil {
		logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	max := f.MaxEvent
	if max <= 0 {
		max = 32 << 20
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invoke", func(w http.ResponseWriter, r *http.Request) {
		inv := FromRequest(r)
		logger.Printf("FC Invoke Start RequestId: %s", inv.RequestID)
		defer logger.Printf("FC Invoke End RequestId: %s", inv.RequestID)
		if f.Invoke == nil {
			fail(w, "NotSupported", errors.New("this function takes no event invocations"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			fail(w, "BadEvent", fmt.Errorf("reading the event: %w", err))
			return
		}
		out, err := f.Invoke(WithInvocation(r.Context(), inv), inv, body)
		if err != nil {
			logger.Printf("RequestId: %s error: %v", inv.RequestID, err)
			fail(w, errorType(err), err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-fc-status", "200")
		w.WriteHeader(http.StatusOK)
		w.Write(out)
	})
	mux.HandleFunc("POST /initialize", func(w http.ResponseWriter, r *http.Request) {
		inv := FromRequest(r)
		logger.Printf("FC Initialize Start RequestId: %s", inv.RequestID)
		defer logger.Printf("FC Initialize End RequestId: %s", inv.RequestID)
		if f.Initialize != nil {
			if err := f.Initialize(WithInvocation(r.Context(), inv), inv); err != nil {
				// FC restarts an instance whose hook fails with 500.
				w.Header().Set("x-fc-status", "500")
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("x-fc-status", "200")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /pre-stop", func(w http.ResponseWriter, r *http.Request) {
		if f.PreStop != nil {
			f.PreStop(r.Context())
		}
		w.Header().Set("x-fc-status", "200")
		w.WriteHeader(http.StatusOK)
	})
	httpTrigger := func(w http.ResponseWriter, r *http.Request) {
		if f.HTTP == nil {
			http.Error(w, "this function has no HTTP trigger", http.StatusNotFound)
			return
		}
		f.HTTP.ServeHTTP(w, r.WithContext(WithInvocation(r.Context(), FromRequest(r))))
	}
	mux.HandleFunc("/", httpTrigger)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// FC marks what an HTTP trigger forwards: a client that asks an
		// anonymous HTTP trigger for /invoke reaches the HTTP handler (and
		// its authentication), never the event handler.
		if r.Header.Get("x-fc-control-path") == "/http-invoke" {
			httpTrigger(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Typed lets an error name its errorType (BadEvent for malformed input).
type Typed interface{ ErrorType() string }

func errorType(err error) string {
	var t Typed
	if errors.As(err, &t) {
		return t.ErrorType()
	}
	return "HandledInvocationError"
}

// fail answers the way FC records a function error.
func fail(w http.ResponseWriter, typ string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-fc-status", "404")
	w.WriteHeader(http.StatusNotFound)
	json.NewEncoder(w).Encode(ErrorBody{ErrorType: typ, ErrorMessage: err.Error()})
}

// Addr is where the server listens: all interfaces (FC pings the instance
// from outside it) on FC_SERVER_PORT, 9000 when unset.
func Addr() string {
	port := os.Getenv("FC_SERVER_PORT")
	if port == "" {
		port = "9000"
	}
	return net.JoinHostPort(os.Getenv("LAYERSCAN_LISTEN_HOST"), port)
}

// Serve runs the function until SIGTERM or SIGINT, then drains requests.
func Serve(f *Function) error {
	ln, err := net.Listen("tcp", Addr())
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: f.Handler(), ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if f.Log != nil {
		f.Log.Printf("listening on %s", ln.Addr())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
