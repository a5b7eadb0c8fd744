// Package suite is the serverless suite's behaviour, function by function:
// what each function does with an event or an HTTP request, on top of the
// pipeline steps. Platform adapters (shared/platform/fc, the Lambda adapter)
// and `layerscan serve` host these handlers; the functions' main.go files
// only pick one.
package suite

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/builtin"
	"github.com/layerscan/layerscan/shared/dispatch"
	"github.com/layerscan/layerscan/shared/janitor"
	"github.com/layerscan/layerscan/shared/malware"
	"github.com/layerscan/layerscan/shared/netguard"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registries/harbor"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/task"
)

// Config is the same for every function; it comes from the environment.
type Config struct {
	// Store is LAYERSCAN_STORE: file:///path, oss://bucket/prefix, s3://bucket/prefix.
	Store string
	// ACRRegistry (LAYERSCAN_ACR_REGISTRY) names the registry host of ACR
	// events when it cannot be derived (VPC endpoints, test registries).
	ACRRegistry string
	// InsecureRegistries (LAYERSCAN_INSECURE_REGISTRIES, comma-separated
	// hosts) are pulled over plain HTTP: loopback test registries only.
	InsecureRegistries []string
	// WebhookToken (LAYERSCAN_WEBHOOK_TOKEN) must arrive with webhook
	// requests, as ?token= or an Authorization header (Bearer or verbatim,
	// as Harbor's "Auth Header" sends it); empty accepts any.
	WebhookToken string
	// AdvisoryMirror (LAYERSCAN_ADVISORY_MIRROR) is the folder sync-advisories
	// reads; empty means the public feeds.
	AdvisoryMirror string
	// StuckAfter (LAYERSCAN_STUCK_AFTER, a Go duration) is how long a
	// scan may make no progress before janitor re-drives it; default 5m.
	StuckAfter time.Duration
	// RetentionDays (LAYERSCAN_RETENTION_DAYS) deletes finished scans'
	// records older than this; 0 keeps them.
	RetentionDays int
	// BootstrapKey (LAYERSCAN_BOOTSTRAP_KEY) is an admin API key accepted
	// without being stored: the first key of a cloud deployment.
	BootstrapKey string
	// QueueVisibilityWait (LAYERSCAN_QUEUE_VISIBILITY_WAIT, a Go duration)
	// is how long a job object a notification announced is re-read before
	// it is taken as run (pipeline.Steps.VisibilityWaits); default none.
	QueueVisibilityWait time.Duration
	// Workers (LAYERSCAN_WORKERS) bounds the local pool of `layerscan
	// serve`; 0 means one per CPU. Its --workers flag overrides it.
	Workers int
}

// FromEnv reads the configuration.
func FromEnv() (Config, error) {
	c := Config{
		Store:          os.Getenv("LAYERSCAN_STORE"),
		ACRRegistry:    os.Getenv("LAYERSCAN_ACR_REGISTRY"),
		WebhookToken:   os.Getenv("LAYERSCAN_WEBHOOK_TOKEN"),
		AdvisoryMirror: os.Getenv("LAYERSCAN_ADVISORY_MIRROR"),
		BootstrapKey:   os.Getenv(apikeys.BootstrapEnv),
		StuckAfter:     janitor.DefaultStuckAfter,
	}
	for _, h := range strings.Split(os.Getenv("LAYERSCAN_INSECURE_REGISTRIES"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.InsecureRegistries = append(c.InsecureRegistries, h)
		}
	}
	if v := os.Getenv("LAYERSCAN_QUEUE_VISIBILITY_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 5*time.Minute {
			return c, fmt.Errorf("LAYERSCAN_QUEUE_VISIBILITY_WAIT: %q is not a duration up to 5m", v)
		}
		c.QueueVisibilityWait = d
	}
	if v := os.Getenv("LAYERSCAN_STUCK_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("LAYERSCAN_STUCK_AFTER: %w", err)
		}
		c.StuckAfter = d
	}
	for env, dst := range map[string]*int{"LAYERSCAN_RETENTION_DAYS": &c.RetentionDays, "LAYERSCAN_WORKERS": &c.Workers} {
		if v := os.Getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return c, fmt.Errorf("%s: %q is not a count", env, v)
			}
			*dst = n
		}
	}
	return c, nil
}

// Env is what every handler works with: the store, the pipeline steps on
// it, and where their fan-out goes.
type Env struct {
	Config Config
	Store  store.Store
	Log    *log.Logger
	// Registries are the registry connections in the store; Live is them
	// as the allow-list of every pull; Logins logs in to them (cloud logins
	// are added by the cloud functions' start, cloudenv).
	Registries *registries.Store
	Live       *registries.Live
	Logins     *registries.Logins
	// Keys are the API keys every route but /healthz requires.
	Keys *apikeys.Store
	// Guard is the network guard every registry request goes through.
	Guard *netguard.Guard
	// Listers list each kind's images for periodic scans; a kind without
	// one is listed by its catalog. Harbor's is built in; the cloud kinds'
	// (acr-ee, ecr) are added by cloudenv.
	Listers map[registries.Kind]registries.Lister

	// Now is the clock (tests move it); nil is the system's.
	Now func() time.Time

	dispatcher dispatch.Dispatcher
	mu         sync.Mutex
	steps      *pipeline.Steps
	reports    reportCache
	// finals keeps the final entries of the tasks this instance has shown,
	// so that a view polled again reads only what may still change.
	finals task.Finals
}

// NewEnv wires a store; dispatcher is the fan-out (nil: a dispatch.Queue
// on the store, as in the cloud). Nothing is read from the store yet: on
// Function Compute the credentials to read it arrive with the first request.
func NewEnv(c Config, st store.Store, dispatcher dispatch.Dispatcher, logger *log.Logger) *Env {
	if logger == nil {
		logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	if dispatcher == nil {
		dispatcher = &dispatch.Queue{Store: st}
	}
	regs := &registries.Store{Store: st}
	live := &registries.Live{Store: regs, Implicit: registries.Implicit(c.InsecureRegistries)}
	return &Env{
		Config: c, Store: st, Log: logger, dispatcher: dispatcher,
		Registries: regs, Live: live, Logins: &registries.Logins{},
		Keys:    &apikeys.Store{Store: st, Bootstrap: c.BootstrapKey},
		Guard:   &netguard.Guard{Policy: live},
		Listers: map[registries.Kind]registries.Lister{registries.Harbor: harbor.Lister{}},
	}
}

// registryOptions are the options of every registry request: the
// connections' logins and the guarded transport.
func (e *Env) registryOptions() []source.Option {
	return []source.Option{source.WithAuth(e.Logins.Keychain(e.Live, nil)), source.WithTransport(e.Guard.Transport())}
}

// Steps returns the pipeline steps, wired on first use, when the store can
// be read: the analyzer set's version depends on the store's signature set.
// Only the signature version is read here; analyze-layer compiles the
// signatures before its first layer. A failure is retried on the next call.
func (e *Env) Steps(ctx context.Context) (*pipeline.Steps, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.steps != nil {
		return e.steps, nil
	}
	sigs, err := malware.Current(ctx, e.Store)
	if err != nil {
		return nil, fmt.Errorf("signatures: %w", err)
	}
	e.steps = &pipeline.Steps{
		Store: e.Store, Dispatch: e.dispatcher, Analyzers: builtin.SetWith(sigs),
		Sources: builtin.Sources(), Registry: e.registryOptions(), Progress: e.Log.Writer(), Now: e.now,
		Reported: e.reported, Sealer: secretSealer{e.Registries.Secrets},
		Extra:           dispatch.Handlers{StepFix: dispatch.Typed(e.RunFix)},
		VisibilityWaits: pipeline.WaitsUpTo(e.Config.QueueVisibilityWait),
	}
	return e.steps, nil
}

// secretSealer seals lent credentials with the registry secrets' key.
type secretSealer struct{ s registries.Secrets }

func (k secretSealer) Seal(plain string) (string, error) {
	sec := &registries.Secret{Value: plain}
	if err := k.s.Seal(sec); err != nil {
		return "", err
	}
	return sec.Encrypted, nil
}

func (k secretSealer) Open(sealed string) (string, error) {
	return k.s.Reveal(&registries.Secret{Encrypted: sealed})
}

// UseLocal runs the steps on an in-process pool instead of the queue, for
// `layerscan serve`; it returns the pool.
func (e *Env) UseLocal(ctx context.Context, workers int) (*dispatch.Local, error) {
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	return d.Local(ctx, workers), nil
}
