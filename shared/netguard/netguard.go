// Package netguard is the one way out for every connection the service
// makes to a registry (pulls, redirects, token realms, registry APIs): a
// transport that only talks to hosts the configuration allows, and a
// dialer that checks the addresses a name resolves to before connecting,
// so that no caller can make the service fetch an address it shouldn't.
//
// Independently of configuration, link-local and cloud metadata addresses
// (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200) are never
// dialled; loopback, private and shared ranges only for a host that a
// registry connection names itself.
package netguard

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// ErrRefused marks a request or connection the guard refused; nothing was
// sent.
var ErrRefused = errors.New("refused by the network guard")

// Policy says which hosts may be reached.
type Policy interface {
	// Reachable reports whether a request may go to host (host[:port]).
	Reachable(host string) bool
	// Named reports whether a configured registry names host itself: only
	// then may it resolve to loopback or private addresses.
	Named(host string) bool
}

// Resolver resolves names; net.DefaultResolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Timeouts bound every wait of a registry call.
type Timeouts struct {
	Dial, TLSHandshake, ResponseHeader, Idle time.Duration
	// Read bounds the wait for each read of a response body: a registry
	// that stops sending mid-blob fails instead of hanging.
	Read time.Duration
}

// DefaultTimeouts suit registries on the internet.
var DefaultTimeouts = Timeouts{Dial: 10 * time.Second, TLSHandshake: 10 * time.Second, ResponseHeader: 30 * time.Second, Idle: 90 * time.Second, Read: 60 * time.Second}

// Guard builds guarded transports.
type Guard struct {
	Policy   Policy
	Resolver Resolver // nil: net.DefaultResolver
	// Dial connects to a checked address; nil: a net.Dialer. Tests hook it
	// to prove that a refused address is never dialled.
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeouts Timeouts // zero: DefaultTimeouts
}

var (
	metadata = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/16"),     // link-local, AWS/GCP/Azure metadata
		netip.MustParsePrefix("fe80::/10"),          // IPv6 link-local
		netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS metadata over IPv6
		netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("224.0.0.0/4"), // multicast
		netip.MustParsePrefix("ff00::/8"),
		netip.MustParsePrefix("255.255.255.255/32"),
	}
	internal = []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"), // shared address space (carrier NAT, cloud VPC services)
		netip.MustParsePrefix("fc00::/7"),      // unique local
		netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	}
)

// Check says why an address may not be dialled for host, or nil.
func (g *Guard) Check(host string, a netip.Addr) error {
	a = a.Unmap()
	if a.IsUnspecified() {
		return fmt.Errorf("%w: %s resolves to the unspecified address %s", ErrRefused, host, a)
	}
	for _, p := range metadata {
		if p.Contains(a) {
			return fmt.Errorf("%w: %s resolves to %s, a link-local or cloud metadata address", ErrRefused, host, a)
		}
	}
	named := g.Policy.Named(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		named = named || g.Policy.Named(h)
	}
	for _, p := range internal {
		if p.Contains(a) && !named {
			return fmt.Errorf("%w: %s resolves to %s, a loopback or private address that no registry connection names", ErrRefused, host, a)
		}
	}
	return nil
}

func (g *Guard) timeouts() Timeouts {
	if g.Timeouts == (Timeouts{}) {
		return DefaultTimeouts
	}
	return g.Timeouts
}

// DialContext resolves addr, checks every address and dials a checked one
// (the address, not the name again: a second lookup could answer
// differently).
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrRefused, addr, err)
	}
	if !g.Policy.Reachable(addr) && !g.Policy.Reachable(host) {
		return nil, fmt.Errorf("%w: %s is not a configured registry host", ErrRefused, addr)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{a}
	} else {
		r := g.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		addrs, err = r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: no address", host)
	}
	// Refuse when any address is forbidden: a name that also resolves to
	// an internal address is a rebinding attempt, whichever one we pick.
	for _, a := range addrs {
		if err := g.Check(addr, a); err != nil {
			return nil, err
		}
	}
	dial := g.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: g.timeouts().Dial, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	var last error
	for _, a := range addrs {
		c, err := dial(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return &readTimeoutConn{Conn: c, d: g.timeouts().Read}, nil
		}
		last = err
	}
	return nil, last
}

// readTimeoutConn gives every read its own deadline.
type readTimeoutConn struct {
	net.Conn
	d time.Duration
}

func (c *readTimeoutConn) Read(p []byte) (int, error) {
	if c.d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.d))
	}
	return c.Conn.Read(p)
}

// Transport returns an http.RoundTripper that refuses requests to hosts
// the policy does not allow (before any connection: redirects and token
// realms pass through it too) and dials through the guard. It uses no
// proxy from the environment: a proxy would dial for it, unchecked.
func (g *Guard) Transport() http.RoundTripper {
	return &guarded{g: g, next: transport(g.timeouts(), g.DialContext)}
}

// TransportTLS is Transport with its own TLS settings: a Kubernetes API
// server's CA, which no other connection trusts.
func (g *Guard) TransportTLS(cfg *tls.Config) http.RoundTripper {
	tr := transport(g.timeouts(), g.DialContext)
	tr.TLSClientConfig = cfg
	return &guarded{g: g, next: tr}
}

// transport is an http.Transport with the bounded waits, dialling with dial.
func transport(t Timeouts, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	return &http.Transport{
		DialContext:           dial,
		TLSHandshakeTimeout:   t.TLSHandshake,
		ResponseHeaderTimeout: t.ResponseHeader,
		IdleConnTimeout:       t.Idle,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   8,
		ForceAttemptHTTP2:     true,
	}
}

type guarded struct {
	g    *Guard
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *guarded) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
		return nil, fmt.Errorf("%w: scheme %q", ErrRefused, req.URL.Scheme)
	}
	if req.URL.User != nil {
		return nil, fmt.Errorf("%w: URL with credentials", ErrRefused)
	}
	if !t.g.Policy.Reachable(req.URL.Host) && !t.g.Policy.Reachable(req.URL.Hostname()) {
		return nil, fmt.Errorf("%w: %s is not a configured registry host", ErrRefused, req.URL.Host)
	}
	return t.next.RoundTrip(req)
}

// Bounded is a transport with the guard's bounded waits and no host
// policy, for the CLI, which pulls what its own user names (through the
// environment's proxy, if any).
func Bounded(t Timeouts) http.RoundTripper {
	if t == (Timeouts{}) {
		t = DefaultTimeouts
	}
	d := &net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}
	tr := transport(t, func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &readTimeoutConn{Conn: c, d: t.Read}, nil
	})
	tr.Proxy = http.ProxyFromEnvironment
	return tr
}
