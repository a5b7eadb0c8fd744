// Package dispatch is the fan-out port: hand a step's job to another worker
// asynchronously. Local runs jobs on an in-process worker pool; the cloud
// adapter writes job objects under queue/<step>/ for the store's event
// notification to deliver.
package dispatch

import (
	"context"
	"fmt"
	"sync"
)

// Dispatcher starts a step with a small job payload (references only).
type Dispatcher interface {
	Dispatch(ctx context.Context, step string, job []byte) error
}

// Handler runs one job of a step.
type Handler func(ctx context.Context, job []byte) error

// Local runs jobs on a bounded pool of goroutines in this process.
type Local struct {
	mu       sync.Mutex
	handlers map[string]Handler
	sem      chan struct{}
	wg       sync.WaitGroup
	errs     []error
	ctx      context.Context
}

// NewLocal makes a pool running at most workers jobs at once.
func NewLocal(ctx context.Context, workers int) *Local {
	if workers < 1 {
		workers = 1
	}
	return &Local{handlers: map[string]Handler{}, sem: make(chan struct{}, workers), ctx: ctx}
}

// Handle registers the handler of a step.
func (l *Local) Handle(step string, h Handler) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handlers[step] = h
}

// Dispatch implements Dispatcher. The job runs on the pool's own context, not
// the caller's, as a platform's async invocation would.
func (l *Local) Dispatch(_ context.Context, step string, job []byte) error {
	l.mu.Lock()
	h, ok := l.handlers[step]
	l.mu.Unlock()
	if !ok {
		return fmt.Errorf("dispatch: no handler for step %q", step)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.sem <- struct{}{}
		defer func() { <-l.sem }()
		if err := h(l.ctx, job); err != nil {
			l.mu.Lock()
			l.errs = append(l.errs, fmt.Errorf("%s: %w", step, err))
			l.mu.Unlock()
		}
	}()
	return nil
}

// Wait blocks until every dispatched job, and every job those dispatched,
// has finished; it returns the handler errors seen so far.
func (l *Local) Wait() []error {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}
