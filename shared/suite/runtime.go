package suite

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/clusters"
	"github.com/layerscan/layerscan/shared/digest"
	"github.com/layerscan/layerscan/shared/kube"
	"github.com/layerscan/layerscan/shared/netguard"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/task"
)

// MaxListing bounds the listing of a cluster's Pods and owners.
const MaxListing = 5 * time.Minute

// ReasonNoRegistry is why a running image from a host with no registry
// connection is not scanned: no anonymous pull from an unknown host.
const ReasonNoRegistry = "registry not configured"

// RuntimeImage is where an image runs in one cluster, as its latest
// runtime scan found it (storekey.RuntimeImage).
type RuntimeImage struct {
	Cluster   string   `json:"cluster"`
	Digest    string   `json:"digest"`
	Image     string   `json:"image"`
	Workloads []string `json:"workloads"`
	Pods      []string `json:"pods"`
	Seen      string   `json:"seen"`
}

func (e *Env) clusterStore() *clusters.Store {
	return &clusters.Store{Store: e.Store, Secrets: e.Registries.Secrets, Now: e.now}
}

// kubeClient is a client of the cluster's API server: its CA only, its
// host only (private addresses allowed for it: API servers are internal),
// through the network guard.
func (e *Env) kubeClient(c *clusters.Cluster) (*kube.Client, error) {
	token, err := e.Registries.Secrets.Reveal(c.Token)
	if err != nil {
		return nil, fmt.Errorf("cluster %s token: %w", c.ID, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(c.CA))
		cfg.RootCAs = pool
	}
	g := &netguard.Guard{Policy: onlyHost(c.Host()), Resolver: e.Guard.Resolver, Dial: e.Guard.Dial}
	return &kube.Client{Server: c.Server, Token: token, HTTP: &http.Client{Transport: g.TransportTLS(cfg), Timeout: 2 * time.Minute}}, nil
}

// onlyHost reaches one host, private addresses allowed.
type onlyHost string

func (h onlyHost) Reachable(host string) bool { return strings.EqualFold(host, string(h)) }
func (h onlyHost) Named(host string) bool     { return h.Reachable(host) }

// running is what a runtime scan found of one digest.
type running struct {
	item      task.Item
	workloads map[string]bool
	pods      map[string]bool
	failed    string
}

// ScanCluster scans the images the cluster's Pods in scope run, as one
// task of type runtime: each container's running digest (its imageID),
// de-duplicated, with the workloads and Pods that run it. A container
// whose runtime reported no digest has its image tag resolved, and the
// log says so; an image of a registry with no connection is logged as
// not configured, not pulled.
func (e *Env) ScanCluster(ctx context.Context, id, trigger string) (*task.View, error) {
	c, err := e.clusterStore().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	kc, err := e.kubeClient(c)
	if err != nil {
		return nil, err
	}
	// Each request is bounded; so is the whole listing, which an API server
	// answering slowly page after page could otherwise stretch for hours.
	lctx, cancel := context.WithTimeout(ctx, MaxListing)
	pods, owners, errs, err := scopePods(lctx, kc, c)
	cancel()
	if err != nil {
		return nil, err
	}
	set, err := e.Live.Set(ctx)
	if err != nil {
		return nil, err
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return nil, err
	}
	byKey := map[string]*running{}
	var order []string
	for _, p := range pods {
		w := kube.Workload(p, owners)
		workload := p.Namespace + "/" + w.Kind + "/" + w.Name
		for _, ct := range p.Containers {
			r, err := e.runningImage(ctx, set, d.Registry, ct)
			if err != nil {
				return nil, err
			}
			key := r.item.Digest
			if key == "" {
				key = "unresolved " + r.item.Host + "/" + r.item.Repository + ":" + r.item.Tag
			}
			got, ok := byKey[key]
			if !ok {
				got, byKey[key] = r, r
				order = append(order, key)
			}
			got.workloads[workload] = true
			kind := ""
			if ct.Init {
				kind = ", init"
			}
			got.pods[p.Namespace+"/"+p.Name+" ("+ct.Name+kind+")"] = true
		}
	}
	sort.Strings(order)
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	items := make([]task.Item, 0, len(order))
	for _, k := range order {
		r := byKey[k]
		r.item.Workloads = sortedKeys(r.workloads)
		items = append(items, r.item)
	}
	t := e.newTask(s, task.Runtime, trigger, "cluster "+c.ID, items)
	t.Errors = errs
	if _, err := task.Create(ctx, e.Store, t); err != nil {
		return nil, err
	}
	now := e.now().Format(time.RFC3339)
	for i, k := range order {
		r := byKey[k]
		if r.failed != "" {
			if _, err := task.Admit(ctx, e.Store, t.ID, i, task.Admission{Outcome: task.ImageFailed, Reason: r.failed, At: now}); err != nil {
				return nil, err
			}
			continue
		}
		ri := RuntimeImage{Cluster: c.ID, Digest: r.item.Digest, Image: r.item.Ref(), Workloads: r.item.Workloads, Pods: sortedKeys(r.pods), Seen: now}
		if err := store.PutJSON(ctx, e.Store, storekey.RuntimeImage(c.ID, r.item.Digest), ri); err != nil {
			return nil, err
		}
	}
	v, started, err := e.advance(ctx, t, s)
	if err != nil {
		return nil, err
	}
	e.Log.Printf("runtime: cluster %s: task %s, %d image(s), %d started", c.ID, t.ID, len(items), len(started))
	return v, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runningImage is the registry image a container runs: its imageID's
// repository and digest, else its spec image resolved through the
// configured registries (the log says so), and whether the host has a
// registry connection.
func (e *Env) runningImage(ctx context.Context, set *registries.Set, opts []source.Option, ct kube.Container) (*running, error) {
	r := &running{workloads: map[string]bool{}, pods: map[string]bool{}}
	spec, err := name.ParseReference(ct.Image)
	if err != nil {
		r.failed = fmt.Sprintf("image %q: %v", ct.Image, err)
		return r, nil
	}
	if t, ok := spec.(name.Tag); ok {
		r.item.Tag = t.TagStr()
	}
	repo := spec.Context()
	if rp, digest, ok := ct.Digest(); ok {
		ref, err := name.ParseReference(rp + "@" + digest)
		if err == nil {
			repo, r.item.Digest = ref.Context(), digest
		}
	}
	r.item.Host, r.item.Repository = repo.RegistryStr(), repo.RepositoryStr()
	c, ok := set.ForHost(r.item.Host)
	if !ok {
		r.failed = ReasonNoRegistry + ": " + r.item.Host + " has no registry connection, and images are not pulled anonymously from an unknown host"
		return r, nil
	}
	r.item.Registry = c.ID
	if r.item.Digest == "" {
		digest, err := registry.Resolve(ctx, ct.Image, c.Insecure, source.Apply(opts...))
		if err != nil {
			r.failed = fmt.Sprintf("the runtime reported no digest for %s, and its tag could not be resolved: %v", ct.Image, err)
			return r, nil
		}
		r.item.Digest = digest
		r.item.Note = "the runtime reported no digest: the tag " + ct.Image + " was resolved, which may not be what the container runs"
	}
	return r, nil
}

// scopePods lists the cluster's Pods in scope, with the owners that name
// their workloads. A namespace the token may not list is an error of the
// task and the others are still listed; a refused token fails the scan.
func scopePods(ctx context.Context, kc *kube.Client, c *clusters.Cluster) ([]kube.Pod, map[string]kube.Owner, []string, error) {
	namespaces := c.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	owners := map[string]kube.Owner{}
	var out []kube.Pod
	var errs []string
	seen := map[string]bool{}
	for _, ns := range namespaces {
		var pods []kube.Pod
		var err error
		if len(c.Workloads) == 0 {
			pods, err = kc.Pods(ctx, ns, "")
		} else {
			for _, w := range c.Workloads {
				if w.Namespace != "" && ns != "" && w.Namespace != ns {
					continue
				}
				listNS := ns
				if listNS == "" {
					listNS = w.Namespace
				}
				var got []kube.Pod
				if got, err = kc.Pods(ctx, listNS, w.Selector); err != nil {
					break
				}
				pods = append(pods, got...)
			}
		}
		var forbidden kube.Forbidden
		switch {
		case errors.As(err, &forbidden):
			errs = append(errs, err.Error())
			continue
		case err != nil:
			return nil, nil, nil, fmt.Errorf("cluster %s: %w", c.ID, err)
		}
		needOwners := slices.ContainsFunc(pods, func(p kube.Pod) bool {
			return p.Owner != nil && (p.Owner.Kind == "ReplicaSet" || p.Owner.Kind == "Job")
		})
		if needOwners {
			o, err := kc.Owners(ctx, ns)
			if errors.As(err, &forbidden) {
				errs = append(errs, err.Error()+": Pods are named by their ReplicaSet or Job")
			} else if err != nil {
				return nil, nil, nil, fmt.Errorf("cluster %s: %w", c.ID, err)
			}
			for k, v := range o {
				owners[k] = v
			}
		}
		for _, p := range pods {
			k := p.Namespace + "/" + p.Name
			if seen[k] || !inScope(c, p, owners) {
				continue
			}
			seen[k] = true
			out = append(out, p)
		}
	}
	return out, owners, errs, nil
}

// inScope reports whether a Pod is one of the workloads in scope.
func inScope(c *clusters.Cluster, p kube.Pod, owners map[string]kube.Owner) bool {
	if len(c.Workloads) == 0 {
		return true
	}
	w := kube.Workload(p, owners)
	for _, sel := range c.Workloads {
		if sel.Namespace != "" && sel.Namespace != p.Namespace {
			continue
		}
		if sel.Kind != "" && sel.Kind != w.Kind {
			continue
		}
		if sel.Name != "" && sel.Name != w.Name {
			continue
		}
		if sel.Selector != "" && !matchesSelector(sel.Selector, p.Labels) {
			continue
		}
		return true
	}
	return false
}

// matchesSelector checks the equality-based selectors the API server
// also applied (k=v, k!=v, k); it keeps a Pod listed by another rule's
// selector from matching this one.
func matchesSelector(sel string, labels map[string]string) bool {
	for _, part := range strings.Split(sel, ",") {
		part = strings.TrimSpace(part)
		switch {
		case strings.Contains(part, "!="):
			k, v, _ := strings.Cut(part, "!=")
			if labels[strings.TrimSpace(k)] == strings.TrimSpace(v) {
				return false
			}
		case strings.Contains(part, "="):
			k, v, _ := strings.Cut(strings.Replace(part, "==", "=", 1), "=")
			if labels[strings.TrimSpace(k)] != strings.TrimSpace(v) {
				return false
			}
		case part != "":
			if _, ok := labels[part]; !ok {
				return false
			}
		}
	}
	return true
}

// runningAs is the digests an image whose report is for dgst may be
// running as: its own, and the index digest its reference pins when it is
// one platform of a multi-platform image. A kubelet reports the index's
// digest for such an image, while reports are per platform.
func runningAs(ref, dgst string) []string {
	out := []string{dgst}
	if _, pinned, ok := strings.Cut(ref, "@"); ok && pinned != dgst && digest.Valid(pinned) {
		out = append(out, pinned)
	}
	return out
}

// workloadsOf is where an image runs, by any digest it runs as.
func workloadsOf(idx map[string][]string, ref, dgst string) []string {
	var out []string
	for _, d := range runningAs(ref, dgst) {
		out = append(out, idx[d]...)
	}
	return out
}

// runtimeIndex maps digests to where they run ("cluster/namespace/Kind/name").
func (e *Env) runtimeIndex(ctx context.Context) (map[string][]string, error) {
	keys, err := e.Store.List(ctx, storekey.RuntimePrefix)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, k := range keys {
		var ri RuntimeImage
		if err := store.GetJSON(ctx, e.Store, k, &ri); err != nil {
			continue
		}
		for _, w := range ri.Workloads {
			out[ri.Digest] = append(out[ri.Digest], ri.Cluster+"/"+w)
		}
	}
	return out, nil
}

// clusterRoutes are the /v1/clusters routes:
//
//	GET    /v1/clusters            every cluster connection, tokens masked
//	POST   /v1/clusters            create one (201)
//	GET    /v1/clusters/{id}       one
//	PUT    /v1/clusters/{id}       replace one; a token sent back masked is kept
//	DELETE /v1/clusters/{id}       delete one (204)
//	POST   /v1/clusters/{id}/scan  scan what its Pods in scope run (202, a runtime task)
//	GET    /v1/images/{digest}/workloads  where an image runs, per cluster
func (e *Env) clusterRoutes(mux *http.ServeMux) {
	cs := e.clusterStore()
	decode := func(w http.ResponseWriter, r *http.Request) (*clusters.Cluster, error) {
		var c clusters.Cluster
		return &c, decodeStrict(w, r, &c, false)
	}
	answer := func(w http.ResponseWriter, err error) {
		switch {
		case errors.Is(err, clusters.ErrInvalid):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		case errors.Is(err, clusters.ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case errors.Is(err, clusters.ErrExists):
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		case errors.Is(err, kube.ErrUnauthorized):
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		default:
			httpError(w, err)
		}
	}
	mux.HandleFunc("GET /v1/clusters", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		l, err := cs.List(r.Context())
		if err != nil {
			answer(w, err)
			return
		}
		out := make([]clusters.Cluster, len(l))
		for i, c := range l {
			out[i] = c.Masked()
		}
		writeJSON(w, http.StatusOK, map[string]any{"clusters": out})
	}))
	mux.HandleFunc("POST /v1/clusters", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		c, err := decode(w, r)
		if err == nil {
			err = cs.Create(r.Context(), c)
		}
		if err != nil {
			answer(w, err)
			return
		}
		e.audited(r, "cluster.create", c.ID)
		writeJSON(w, http.StatusCreated, c.Masked())
	}))
	mux.HandleFunc("GET /v1/clusters/{id}", e.allow(apikeys.ReadSettings, func(w http.ResponseWriter, r *http.Request) {
		c, err := cs.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			answer(w, err)
			return
		}
		writeJSON(w, http.StatusOK, c.Masked())
	}))
	mux.HandleFunc("PUT /v1/clusters/{id}", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		c, err := decode(w, r)
		if err == nil {
			err = cs.Update(r.Context(), r.PathValue("id"), c)
		}
		if err != nil {
			answer(w, err)
			return
		}
		e.audited(r, "cluster.update", c.ID)
		writeJSON(w, http.StatusOK, c.Masked())
	}))
	mux.HandleFunc("DELETE /v1/clusters/{id}", e.allow(apikeys.Manage, func(w http.ResponseWriter, r *http.Request) {
		if err := cs.Delete(r.Context(), r.PathValue("id")); err != nil {
			answer(w, err)
			return
		}
		e.audited(r, "cluster.delete", r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /v1/clusters/{id}/scan", e.allow(apikeys.Scan, func(w http.ResponseWriter, r *http.Request) {
		if k := callerKey(r.Context()); k != nil && len(k.Repositories) > 0 {
			httpError(w, Forbidden{errors.New("a runtime scan covers whatever the cluster runs: a key not limited to repositories may start one")})
			return
		}
		v, err := e.ScanCluster(r.Context(), r.PathValue("id"), whoCalls(r.Context()))
		if err != nil {
			answer(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, v)
	}))
	mux.HandleFunc("GET /v1/images/{digest}/workloads", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		if !digest.Valid(r.PathValue("digest")) {
			httpError(w, BadEvent{errors.New("digest must be sha256:<64 hex>")})
			return
		}
		d := r.PathValue("digest")
		as := []string{d}
		if l, ok, err := pipeline.LoadLatest(r.Context(), e.Store, d); err != nil {
			httpError(w, err)
			return
		} else if ok {
			as = runningAs(l.Ref, d) // a platform of an index runs as the index
		}
		keys, err := e.Store.List(r.Context(), storekey.RuntimePrefix)
		if err != nil {
			httpError(w, err)
			return
		}
		out := []RuntimeImage{}
		for _, k := range keys {
			if !slices.ContainsFunc(as, func(d string) bool { return strings.HasSuffix(k, "/"+d+".json") }) {
				continue
			}
			var ri RuntimeImage
			if err := store.GetJSON(r.Context(), e.Store, k, &ri); err == nil && covers(r.Context(), ri.Image) == nil {
				out = append(out, ri)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"runtime": out})
	}))
}
