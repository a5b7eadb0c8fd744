// Package dispatch is the fan-out port: hand a step's job to another worker
// asynchronously. Local runs jobs on an in-process worker pool; Queue writes
// job objects under queue/<step>/ for the store's event notification to
// deliver.
package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Job is the input of one step; Step names the step that runs it. Jobs
// carry references only (digests, keys): FC async payloads are limited to
// 128 KB.
type Job interface {
	Step() string
}

// Envelope is a job as it travels: its step and its encoding, made once by
// Enqueue and decoded once by the step's Handler.
type Envelope struct {
	Step string          `json:"step"`
	Job  json.RawMessage `json:"job"`
}

// Dispatcher starts a step with a job.
type Dispatcher interface {
	Dispatch(ctx context.Context, e Envelope) error
}

// Enqueue encodes a job and dispatches it.
func Enqueue(ctx context.Context, d Dispatcher, j Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode %s job: %w", j.Step(), err)
	}
	if err := d.Dispatch(ctx, Envelope{Step: j.Step(), Job: b}); err != nil {
		return fmt.Errorf("dispatch %s: %w", j.Step(), err)
	}
	return nil
}

// Decode reads an envelope. Job objects written before envelopes existed
// hold the bare job; step (from the object's key) names it then.
func Decode(b []byte, step string) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("job envelope: %w", err)
	}
	if e.Step == "" && len(e.Job) == 0 {
		return Envelope{Step: step, Job: b}, nil
	}
	if e.Step != step {
		return e, fmt.Errorf("job envelope names step %q, its key %q", e.Step, step)
	}
	return e, nil
}

// Handler runs one encoded job of a step.
type Handler func(ctx context.Context, job json.RawMessage) error

// Typed makes the Handler of a step from a function of its job type: the
// one place a job is decoded.
func Typed[J Job](run func(context.Context, J) error) Handler {
	return func(ctx context.Context, raw json.RawMessage) error {
		var j J
		if err := json.Unmarshal(raw, &j); err != nil {
			return fmt.Errorf("%s job: %w", j.Step(), err)
		}
		return run(ctx, j)
	}
}

// Handlers maps step names to their handlers.
type Handlers map[string]Handler

// Run runs one envelope with the handler of its step. A panic in a step
// (a parser of hostile input that slipped) is the job's error: one poison
// job must never take the process, and every job beside it, down.
func (h Handlers) Run(ctx context.Context, e Envelope) (err error) {
	run, ok := h[e.Step]
	if !ok {
		return fmt.Errorf("unknown step %q", e.Step)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s job panicked: %v", e.Step, p)
		}
	}()
	return run(ctx, e.Job)
}

// Local runs jobs on a bounded pool of goroutines in this process.
type Local struct {
	handlers Handlers
	sem      chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	errs     []error
	ctx      context.Context
}

// NewLocal makes a pool running at most workers jobs at once with the
// given handlers.
func NewLocal(ctx context.Context, workers int, h Handlers) *Local {
	if workers < 1 {
		workers = 1
	}
	return &Local{handlers: h, sem: make(chan struct{}, workers), ctx: ctx}
}

// Dispatch implements Dispatcher. The job runs on the pool's own context, not
// the caller's, as a platform's async invocation would.
func (l *Local) Dispatch(_ context.Context, e Envelope) error {
	if _, ok := l.handlers[e.Step]; !ok {
		return fmt.Errorf("dispatch: no handler for step %q", e.Step)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.sem <- struct{}{}
		defer func() { <-l.sem }()
		if err := l.handlers.Run(l.ctx, e); err != nil {
			l.mu.Lock()
			l.errs = append(l.errs, fmt.Errorf("%s: %w", e.Step, err))
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
