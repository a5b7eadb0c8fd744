package registries

import (
	"context"
	"sync"
	"time"
)

// Live is the connections in force for a long-running function instance:
// read from the store at most every TTL, at once after a write through the
// same instance (Invalidate). It is the allow-list policy of the network
// guard (Reachable, Named): when the store cannot be read, nothing is
// reachable.
type Live struct {
	Store *Store
	// Implicit connections are not in the store: the loopback test
	// registries of LAYERSCAN_INSECURE_REGISTRIES.
	Implicit []*Connection
	TTL      time.Duration // 0: 10 s

	mu  sync.Mutex
	set *Set
	at  time.Time
}

// Set implements Sets.
func (l *Live) Set(ctx context.Context) (*Set, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ttl := l.TTL
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	if l.set != nil && time.Since(l.at) < ttl {
		return l.set, nil
	}
	cs, err := l.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	l.set, l.at = NewSet(append(cs, l.Implicit...)), time.Now()
	return l.set, nil
}

// Invalidate makes the next Set read the store.
func (l *Live) Invalidate() {
	l.mu.Lock()
	l.set = nil
	l.mu.Unlock()
}

func (l *Live) current() *Set {
	s, err := l.Set(context.Background())
	if err != nil {
		return NewSet(nil)
	}
	return s
}

// Reachable implements netguard.Policy.
func (l *Live) Reachable(host string) bool { return l.current().Reachable(host) }

// Named implements netguard.Policy.
func (l *Live) Named(host string) bool { return l.current().Named(host) }

// Implicit makes the connections of legacy loopback test registries
// (LAYERSCAN_INSECURE_REGISTRIES): generic, plain HTTP, anonymous.
func Implicit(hosts []string) []*Connection {
	var out []*Connection
	for _, h := range hosts {
		out = append(out, &Connection{ID: "env-" + h, Kind: Generic, Hosts: []string{h}, Insecure: IsLoopback(h), Auth: Auth{Method: AuthNone}})
	}
	return out
}
