package fc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type badEvent struct{ error }

func (badEvent) ErrorType() string { return "BadEvent" }

func TestContract(t *testing.T) {
	var seen Invocation
	f := &Function{
		Invoke: func(ctx context.Context, inv Invocation, body []byte) ([]byte, error) {
			seen = inv
			switch string(body) {
			case "fail":
				return nil, errors.New("boom")
			case "bad":
				return nil, badEvent{errors.New("malformed: no image")}
			}
			return []byte(`{"ok":true}`), nil
		},
		HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inv, _ := FromContext(r.Context())
			io.WriteString(w, r.Method+" "+r.URL.Path+" "+inv.Creds.AccessKeyID)
		}),
		Initialize: func(ctx context.Context, inv Invocation) error { return nil },
		MaxEvent:   1024,
		Log:        log.New(io.Discard, "", 0),
	}
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	do := func(method, path, body string) (*http.Response, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("x-fc-request-id", "req-1")
		req.Header.Set("x-fc-access-key-id", "STS.key")
		req.Header.Set("x-fc-access-key-secret", "secret")
		req.Header.Set("x-fc-security-token", "token")
		req.Header.Set("x-fc-retry-count", "2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := do("POST", "/invoke", "ok")
	if resp.StatusCode != 200 || resp.Header.Get("x-fc-status") != "200" || body != `{"ok":true}` {
		t.Errorf("success: %d %s %s", resp.StatusCode, resp.Header.Get("x-fc-status"), body)
	}
	if seen.RequestID != "req-1" || seen.Creds != (Credentials{"STS.key", "secret", "token"}) || seen.RetryCount != 2 {
		t.Errorf("invocation %+v", seen)
	}
	for _, c := range []struct{ body, typ string }{{"fail", "HandledInvocationError"}, {"bad", "BadEvent"}, {strings.Repeat("x", 2048), "BadEvent"}} {
		resp, body = do("POST", "/invoke", c.body)
		var e ErrorBody
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != 404 || resp.Header.Get("x-fc-status") != "404" || e.ErrorType != c.typ || e.ErrorMessage == "" {
			t.Errorf("%.10s: %d %s %s", c.body, resp.StatusCode, resp.Header.Get("x-fc-status"), body)
		}
	}
	if resp, _ := do("POST", "/initialize", ""); resp.StatusCode != 200 {
		t.Errorf("initialize %d", resp.StatusCode)
	}
	if resp, _ := do("GET", "/pre-stop", ""); resp.StatusCode != 200 {
		t.Errorf("pre-stop %d", resp.StatusCode)
	}
	if resp, body := do("POST", "/webhook/harbor", "{}"); resp.StatusCode != 200 || body != "POST /webhook/harbor STS.key" {
		t.Errorf("http trigger: %d %s", resp.StatusCode, body)
	}
	// A function without an HTTP trigger, and one without events.
	g := httptest.NewServer((&Function{Log: log.New(io.Discard, "", 0)}).Handler())
	defer g.Close()
	if r, _ := http.Post(g.URL+"/invoke", "", strings.NewReader("{}")); r.StatusCode != 404 || r.Header.Get("x-fc-status") != "404" {
		t.Errorf("no events: %d", r.StatusCode)
	}
	if r, _ := http.Get(g.URL + "/v1/x"); r.StatusCode != 404 {
		t.Errorf("no http: %d", r.StatusCode)
	}
}

func TestAddr(t *testing.T) {
	t.Setenv("FC_SERVER_PORT", "")
	t.Setenv("LAYERSCAN_LISTEN_HOST", "")
	if Addr() != ":9000" {
		t.Errorf("default %q", Addr())
	}
	t.Setenv("FC_SERVER_PORT", "9123")
	if Addr() != ":9123" {
		t.Errorf("port %q", Addr())
	}
}

// TestHTTPTriggerCannotReachInvoke: a client of an anonymous HTTP trigger
// that asks for /invoke is served by the HTTP handler (FC marks what an
// HTTP trigger forwards with x-fc-control-path: /http-invoke).
func TestHTTPTriggerCannotReachInvoke(t *testing.T) {
	invoked, served := 0, 0
	f := &Function{
		Invoke: func(context.Context, Invocation, []byte) ([]byte, error) { invoked++; return []byte("{}"), nil },
		HTTP:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++; w.WriteHeader(http.StatusUnauthorized) }),
		Log:    log.New(io.Discard, "", 0),
	}
	h := f.Handler()
	for _, c := range []struct {
		control      string
		wantInvoked  int
		wantHTTPHits int
	}{
		{"/http-invoke", 0, 1},
		{"/invoke", 1, 1},
	} {
		req := httptest.NewRequest(http.MethodPost, "/invoke", strings.NewReader(`{"specversion":"1.0"}`))
		req.Header.Set("x-fc-control-path", c.control)
		h.ServeHTTP(httptest.NewRecorder(), req)
		if invoked != c.wantInvoked || served != c.wantHTTPHits {
			t.Errorf("control path %s: %d invocations, %d HTTP requests", c.control, invoked, served)
		}
	}
}
