package netguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type hosts struct{ reachable, named []string }

func (h hosts) Reachable(host string) bool { return contains(h.reachable, host) }
func (h hosts) Named(host string) bool     { return contains(h.named, host) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// fakeDNS maps names to addresses the test chooses; nothing is looked up.
type fakeDNS map[string][]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range f[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if out == nil {
		return nil, errors.New("no such host")
	}
	return out, nil
}

// recordingDial fails every dial, recording it: a refused address must
// never get here, and no packet leaves the machine either way.
type recordingDial struct {
	mu    sync.Mutex
	dials []string
}

func (r *recordingDial) dial(_ context.Context, _, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.dials = append(r.dials, addr)
	r.mu.Unlock()
	return nil, errors.New("test dialer: not connecting")
}

// TestDialRefusesBeforeConnecting: forbidden targets are refused after
// resolution and before any connection, whatever name leads to them.
func TestDialRefusesBeforeConnecting(t *testing.T) {
	dns := fakeDNS{
		"metadata.example":   {"169.254.169.254"},
		"aliyun-meta":        {"100.100.100.200"},
		"ec2-v6":             {"fd00:ec2::254"},
		"rebind.example":     {"93.184.216.34", "127.0.0.1"},
		"private.example":    {"10.1.2.3"},
		"cgnat.example":      {"100.64.1.1"},
		"mapped.example":     {"::ffff:169.254.169.254"},
		"registry.internal":  {"10.0.0.5"},
		"registry.example":   {"93.184.216.34"},
		"localhost-alias.ex": {"127.0.0.1"},
	}
	policy := hosts{
		reachable: []string{"metadata.example", "aliyun-meta", "ec2-v6", "rebind.example", "private.example", "cgnat.example", "mapped.example",
			"registry.internal", "registry.example", "localhost-alias.ex", "169.254.169.254", "fe80::1", "0.0.0.0"},
		named: []string{"registry.internal"},
	}
	for _, c := range []struct {
		addr    string
		refused string // "" when it may be dialled
	}{
		{"metadata.example:80", "metadata"},
		{"169.254.169.254:80", "metadata"},
		{"aliyun-meta:80", "metadata"},
		{"ec2-v6:80", "metadata"},
		{"[fe80::1]:80", "metadata"},
		{"mapped.example:80", "metadata"},
		{"0.0.0.0:80", "unspecified"},
		{"rebind.example:443", "loopback or private"},
		{"private.example:443", "loopback or private"},
		{"cgnat.example:443", "loopback or private"},
		{"localhost-alias.ex:5000", "loopback or private"},
		{"unknown.example:443", "not a configured registry host"},
		{"registry.internal:443", ""}, // a connection names it: private is fine
		{"registry.example:443", ""},
	} {
		rec := &recordingDial{}
		g := &Guard{Policy: policy, Resolver: dns, Dial: rec.dial}
		_, err := g.DialContext(context.Background(), "tcp", c.addr)
		if c.refused == "" {
			if len(rec.dials) != 1 || errors.Is(err, ErrRefused) {
				t.Errorf("%s: dials %v, err %v; want one dial", c.addr, rec.dials, err)
			}
			continue
		}
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.refused) {
			t.Errorf("%s: %v, want refused (%s)", c.addr, err, c.refused)
		}
		if len(rec.dials) != 0 {
			t.Errorf("%s: dialled %v after refusing", c.addr, rec.dials)
		}
	}
}

// TestTransportRefusesRedirectsAndRealms: a registry on loopback that is
// configured answers with a redirect and a token realm on a loopback
// listener that is not; neither is fetched.
func TestTransportRefusesRedirectsAndRealms(t *testing.T) {
	var hits int
	var mu sync.Mutex
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		io.WriteString(w, "secret metadata")
	}))
	defer forbidden.Close()
	registry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, forbidden.URL+"/latest/meta-data/", http.StatusFound)
	}))
	defer registry.Close()
	host := strings.TrimPrefix(registry.URL, "http://")
	g := &Guard{Policy: hosts{reachable: []string{host}, named: []string{host}}}
	client := &http.Client{Transport: g.Transport()}
	_, err := client.Get(registry.URL + "/v2/")
	if !errors.Is(err, ErrRefused) {
		t.Errorf("redirect to an unconfigured host: %v", err)
	}
	if _, err := client.Get(forbidden.URL + "/token?service=x"); !errors.Is(err, ErrRefused) {
		t.Errorf("token realm on an unconfigured host: %v", err)
	}
	if hits != 0 {
		t.Errorf("the unconfigured listener was fetched %d times", hits)
	}
}

// TestTimeouts: a registry that accepts connections and never answers, or
// stops mid-body, fails within the timeouts.
func TestTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // read the request, never answer
				io.Copy(io.Discard, c)
			}()
		}
	}()
	slowBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer slowBody.Close()
	silent := ln.Addr().String()
	slow := strings.TrimPrefix(slowBody.URL, "http://")
	g := &Guard{Policy: hosts{reachable: []string{silent, slow}, named: []string{silent, slow}},
		Timeouts: Timeouts{Dial: time.Second, TLSHandshake: time.Second, ResponseHeader: 300 * time.Millisecond, Idle: time.Second, Read: 300 * time.Millisecond}}
	client := &http.Client{Transport: g.Transport()}
	start := time.Now()
	if _, err := client.Get("http://" + silent + "/v2/"); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("silent registry: %v after %s", err, time.Since(start))
	}
	start = time.Now()
	resp, err := client.Get(slowBody.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("stalled body: %v after %s", err, time.Since(start))
	}
}
