package suite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/digest"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/verdict"
)

// reportKey is the report an image is answered with: the one against the
// current DB, or, until that exists, its latest one (stale). ErrNotFound
// when the image has neither.
func (e *Env) reportKey(ctx context.Context, d string) (key string, stale bool, err error) {
	version := ""
	if db, err := advisory.Current(ctx, e.Store); err == nil {
		version = db.Manifest.Version
	}
	key = storekey.Report(d, version)
	ok, err := e.Store.Exists(ctx, key)
	if err != nil || ok {
		return key, false, err
	}
	l, found, err := pipeline.LoadLatest(ctx, e.Store, d)
	switch {
	case err != nil:
		return "", false, err
	case !found:
		return "", false, fmt.Errorf("report of %s: %w", d, store.ErrNotFound)
	}
	return l.ReportKey, true, nil
}

// reportsOf are the reports a digest stands for: its own, or, for an
// image index, its scanned platform images'. Each is the one reportKey
// names.
func (e *Env) reportsOf(ctx context.Context, d string) ([]*report.Report, error) {
	one := func(d string) (*report.Report, error) {
		key, stale, err := e.reportKey(ctx, d)
		if err != nil {
			return nil, err
		}
		var r report.Report
		if err := store.GetJSON(ctx, e.Store, key, &r); err != nil {
			return nil, err
		}
		r.Stale = stale
		return &r, nil
	}
	if r, err := one(d); err == nil {
		return []*report.Report{r}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var platforms []string
	if err := store.GetJSON(ctx, e.Store, storekey.ImageIndex(d), &platforms); err != nil {
		return nil, fmt.Errorf("image %s was never scanned: %w", d, err)
	}
	var out []*report.Report
	for _, p := range platforms {
		r, err := one(p)
		if err != nil {
			return nil, fmt.Errorf("platform image %s of %s: %w", p, d, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Verdict evaluates the named policy over an image's reports: denied if
// any platform's report is denied.
func (e *Env) Verdict(ctx context.Context, d, policy string) (*verdict.Verdict, error) {
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	p, ok := verdict.Find(s.Policies, policy)
	if !ok {
		return nil, BadEvent{fmt.Errorf("no policy named %q", policy)}
	}
	rs, err := e.reportsOf(ctx, d)
	if err != nil {
		return nil, err
	}
	var out *verdict.Verdict
	for _, r := range rs {
		if err := covers(ctx, r.Image.Ref); err != nil {
			return nil, err
		}
		v := verdict.Evaluate(p, r)
		if out == nil {
			out = &v
			continue
		}
		out.Stale = out.Stale || v.Stale
		if v.Decision == verdict.Deny {
			out.Decision = verdict.Deny
			out.Reasons = append(out.Reasons, v.Reasons...)
		}
	}
	out.Digest = d
	return out, nil
}

// AdmissionReview is the part of admission.k8s.io/v1 AdmissionReview the
// webhook reads and answers.
type AdmissionReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Request    *AdmissionRequest  `json:"request,omitempty"`
	Response   *AdmissionResponse `json:"response,omitempty"`
}

// AdmissionRequest is the review's request.
type AdmissionRequest struct {
	UID    string                `json:"uid"`
	Kind   struct{ Kind string } `json:"kind"`
	Object struct {
		Metadata struct{ Name, Namespace string } `json:"metadata"`
		Spec     podSpec                          `json:"spec"`
	} `json:"object"`
}

type podSpec struct {
	Containers          []struct{ Image string } `json:"containers"`
	InitContainers      []struct{ Image string } `json:"initContainers"`
	EphemeralContainers []struct{ Image string } `json:"ephemeralContainers"`
}

// AdmissionResponse is the review's answer.
type AdmissionResponse struct {
	UID     string           `json:"uid"`
	Allowed bool             `json:"allowed"`
	Status  *AdmissionStatus `json:"status,omitempty"`
	// Warnings are shown by kubectl: stale reports, allowed unscanned images.
	Warnings []string `json:"warnings,omitempty"`
}

// AdmissionStatus says why a Pod is refused.
type AdmissionStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// maxPodImages bounds the images of one Pod.
const maxPodImages = 100

// Admit answers an admission review of a Pod: every image, by digest
// (tags resolved through the configured registries), must be allowed by
// the admission policy; an image never scanned gets admission.unscanned.
func (e *Env) Admit(ctx context.Context, review *AdmissionReview) (*AdmissionReview, error) {
	if review.Request == nil || review.Request.UID == "" {
		return nil, BadEvent{errors.New("an AdmissionReview with a request and its uid is required")}
	}
	if k := review.Request.Kind.Kind; k != "" && k != "Pod" {
		return nil, BadEvent{fmt.Errorf("the webhook reviews Pods, not %s", k)}
	}
	s, err := settings.Load(ctx, e.Store)
	if err != nil {
		return nil, err
	}
	resp := &AdmissionResponse{UID: review.Request.UID, Allowed: true}
	var denials []string
	spec := review.Request.Object.Spec
	var images []string
	for _, cs := range [][]struct{ Image string }{spec.InitContainers, spec.Containers, spec.EphemeralContainers} {
		for _, c := range cs {
			images = append(images, c.Image)
		}
	}
	if len(images) > maxPodImages {
		return nil, BadEvent{fmt.Errorf("%d images in one Pod, over %d", len(images), maxPodImages)}
	}
	for _, img := range images {
		d, err := e.digestOf(ctx, img)
		if err == nil {
			var v *verdict.Verdict
			if v, err = e.Verdict(ctx, d, s.Admission.Policy); err == nil {
				if v.Stale {
					resp.Warnings = append(resp.Warnings, img+": judged on a report against an older advisory DB (a re-match is under way)")
				}
				if v.Decision == verdict.Deny {
					denials = append(denials, fmt.Sprintf("%s: %s", img, strings.Join(v.Reasons, "; ")))
				}
				continue
			}
		}
		if errors.As(err, new(Forbidden)) {
			return nil, err
		}
		// Never scanned, or not resolvable through a configured registry.
		if s.Admission.Unscanned == "allow" {
			resp.Warnings = append(resp.Warnings, img+": not scanned, allowed by admission.unscanned")
			continue
		}
		denials = append(denials, fmt.Sprintf("%s: not scanned (%v)", img, err))
	}
	if len(denials) > 0 {
		resp.Allowed = false
		resp.Status = &AdmissionStatus{Code: http.StatusForbidden, Message: "layerscan: " + strings.Join(denials, " | ")}
	}
	return &AdmissionReview{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Response: resp}, nil
}

// digestOf is the digest an image reference of a Pod names: its own, or
// its tag's, resolved through its registry connection.
func (e *Env) digestOf(ctx context.Context, img string) (string, error) {
	ref, err := name.ParseReference(img)
	if err != nil {
		return "", err
	}
	if dg, ok := ref.(name.Digest); ok {
		return dg.DigestStr(), nil
	}
	c, err := e.admit(ctx, ref.Context().RegistryStr())
	if err != nil {
		return "", err
	}
	d, err := e.Steps(ctx)
	if err != nil {
		return "", err
	}
	return registry.Resolve(ctx, ref.Name(), c.Insecure, source.Apply(d.Registry...))
}

// verdictRoutes:
//
//	GET  /v1/images/{digest}/verdict?policy=NAME   allow / deny with the reasons
//	POST /v1/admission                             a Kubernetes validating admission webhook
func (e *Env) verdictRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/images/{digest}/verdict", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		d := r.PathValue("digest")
		if !digest.Valid(d) {
			httpError(w, BadEvent{errors.New("digest must be sha256:<64 hex>")})
			return
		}
		v, err := e.Verdict(r.Context(), d, r.URL.Query().Get("policy"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}))
	mux.HandleFunc("POST /v1/admission", e.allow(apikeys.ReadReports, func(w http.ResponseWriter, r *http.Request) {
		var review AdmissionReview
		if err := decodeBounded(w, r, &review); err != nil {
			httpError(w, err)
			return
		}
		out, err := e.Admit(r.Context(), &review)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}))
}
