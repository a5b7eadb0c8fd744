// Package settings is the control plane's one settings document: scan
// cycle, scope, policy, time range, retention, quota, task timeout and
// check switches, as the Scan Settings panel of the service layerscan
// replaces has them. It is stored versioned (one create-once object per
// version, so that a write based on a stale version fails instead of
// overwriting someone else's), validated on write, and read by every
// function when it admits a scan or builds a report. docs/settings.md
// documents every field.
package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/aptrepo"
	"github.com/layerscan/layerscan/shared/checks"
	"github.com/layerscan/layerscan/shared/notify"
	"github.com/layerscan/layerscan/shared/verdict"
)

// Settings is the document.
type Settings struct {
	// Version, UpdatedAt and UpdatedBy are set by the store on write.
	Version   int    `json:"version"`
	UpdatedAt string `json:"updatedAt,omitempty"`
	UpdatedBy string `json:"updatedBy,omitempty"`

	Scan   Scan             `json:"scan"`
	Quota  Quota            `json:"quota"`
	Task   Task             `json:"task"`
	Checks checks.Selection `json:"checks"`
	// Notifications are the targets told of scans, new vulnerabilities,
	// quota use and failed tasks (docs/notifications.md).
	Notifications []notify.Target `json:"notifications"`
	// Policies are the named delivery policies the verdict and the
	// admission webhook evaluate; "default" is built in unless redefined.
	Policies  []verdict.Policy `json:"policies"`
	Admission Admission        `json:"admission"`
	// Fix is the Image Risk Fixing Configuration and the package mirrors
	// fixes read (docs/fix.md).
	Fix Fix `json:"fix"`
}

// Fix configures one-click and automatic fixing.
type Fix struct {
	// Auto runs a fix task over Scope every Cycle.
	Auto  bool  `json:"auto"`
	Cycle Cycle `json:"cycle"`
	// Scope is the repositories automatic fixing covers (the scan scope's
	// rules); no rules covers every repository of every connection.
	Scope []Rule `json:"scope"`
	// TimeRangeDays limits automatic fixing to images updated (pushed,
	// else created) in the last N days; 0 covers every image.
	TimeRangeDays int `json:"timeRangeDays"`
	// Overwrite moves the original tag to the fixed image instead of
	// pushing <tag>_fixd beside it.
	Overwrite bool `json:"overwrite"`
	// Mirrors override the distributions' archives per family (debian,
	// ubuntu): a mirror inside the VPC, a snapshot.
	Mirrors map[string]aptrepo.Mirror `json:"mirrors,omitempty"`
}

// InScope reports whether automatic fixing covers a tag.
func (f Fix) InScope(c Connection, repository, tag string) bool {
	return Scan{Scope: f.Scope}.InScope(c, repository, tag)
}

// Admission configures the Kubernetes admission webhook.
type Admission struct {
	// Policy evaluated for every image of a Pod; default "default".
	Policy string `json:"policy,omitempty"`
	// Unscanned is "deny" (the default) or "allow": what an image that was
	// never scanned (or whose tag cannot be resolved) gets.
	Unscanned string `json:"unscanned"`
}

// Cycle is how often the periodic scan runs over the scope.
type Cycle string

// The cycles of the seed's panel.
const (
	ThreeDays Cycle = "3d"
	OneWeek   Cycle = "1w"
	TwoWeeks  Cycle = "2w"
	Stop      Cycle = "stop"
)

// Length of a cycle; 0 for Stop.
func (c Cycle) Length() time.Duration {
	switch c {
	case ThreeDays:
		return 72 * time.Hour
	case OneWeek:
		return 7 * 24 * time.Hour
	case TwoWeeks:
		return 14 * 24 * time.Hour
	}
	return 0
}

// Scan is the scan configuration.
type Scan struct {
	Cycle Cycle `json:"cycle"`
	// CycleAnchor is when the current cycle setting took effect (set on
	// write when the cycle changes): cycles start at it and every cycle
	// length after it.
	CycleAnchor string `json:"cycleAnchor,omitempty"`
	// Scope is the images periodic scans, scan-now and push events cover;
	// no rules covers every repository of every connection.
	Scope []Rule `json:"scope"`
	// AutoAddRepositories lets repositories that appear later join the
	// periodic scope. Off, a repository first listed after ScopeFrozenAt
	// (set on write when it is switched off) stays out.
	AutoAddRepositories bool   `json:"autoAddRepositories"`
	ScopeFrozenAt       string `json:"scopeFrozenAt,omitempty"`
	// ScanOnDigestChange scans a pushed new digest at once; off, pushes are
	// logged as skipped and wait for the cycle.
	ScanOnDigestChange bool `json:"scanOnDigestChange"`
	// TimeRangeDays limits periodic scans and scan-now to images updated
	// in the last N days; 0 covers every image.
	TimeRangeDays int `json:"timeRangeDays"`
	// RetentionDays deletes reports, findings, scan and task records older
	// than this; 0 keeps them.
	RetentionDays int `json:"retentionDays"`
}

// Rule is one scope rule, ACR's shape: a registry connection, and in it
// namespaces or repositories (neither: all of it), with a tag regex.
type Rule struct {
	// Registry is a connection ID or one of its hosts; empty is every one.
	Registry     string   `json:"registry,omitempty"`
	Namespaces   []string `json:"namespaces,omitempty"`
	Repositories []string `json:"repositories,omitempty"`
	// TagRegex must match the whole tag; empty matches every tag.
	TagRegex string `json:"tagRegex,omitempty"`

	tag *regexp.Regexp
}

// Quota is the purchased quota of image scans per monthly billing period.
type Quota struct {
	// Purchased units; null is unlimited. Each digest consumes one unit per
	// scan cycle, however often it is scanned in it.
	Purchased *int `json:"purchased"`
}

// Task holds the task timeout.
type Task struct {
	// TimeoutMinutes is a task's global timeout: images not started by then
	// are skipped ("task timeout"). Default 240 (4 hours).
	TimeoutMinutes int `json:"timeoutMinutes"`
}

// Timeout of a task.
func (t Task) Timeout() time.Duration { return time.Duration(t.TimeoutMinutes) * time.Minute }

// epoch anchors the default cycles: weekly from 1970-01-01.
const epoch = "1970-01-01T00:00:00Z"

// Default is the settings of a new installation: a weekly cycle over
// everything, new repositories added, new digests scanned at once, every
// check on, no quota.
func Default() Settings {
	return Settings{
		Scan:   Scan{Cycle: OneWeek, CycleAnchor: epoch, Scope: []Rule{}, AutoAddRepositories: true, ScanOnDigestChange: true},
		Task:   Task{TimeoutMinutes: 240},
		Checks: checks.Default(), Notifications: []notify.Target{}, Policies: []verdict.Policy{},
		Admission: Admission{Unscanned: "deny"},
		Fix:       Fix{Cycle: OneWeek, Scope: []Rule{}},
	}
}

// FieldError is a validation failure of one field, named by its JSON path.
type FieldError struct {
	Field string
	Err   error
}

func (f *FieldError) Error() string { return f.Field + ": " + f.Err.Error() }
func (f *FieldError) Unwrap() error { return f.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// maxRules bounds the scope.
const maxRules = 1000

// nameRe is a repository or namespace path: distribution's grammar,
// loosely (lower case, digits, separators).
var nameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// Validate checks the document and compiles its regular expressions.
func (s *Settings) Validate() error {
	if s.Scan.Cycle.Length() == 0 && s.Scan.Cycle != Stop {
		return fieldErr("scan.cycle", "%q is not one of 3d, 1w, 2w, stop", s.Scan.Cycle)
	}
	if err := validateRules("scan.scope", s.Scan.Scope); err != nil {
		return err
	}
	if err := validateRules("fix.scope", s.Fix.Scope); err != nil {
		return err
	}
	if s.Fix.Cycle.Length() == 0 {
		return fieldErr("fix.cycle", "%q is not one of 3d, 1w, 2w", s.Fix.Cycle)
	}
	if s.Fix.TimeRangeDays < 0 {
		return fieldErr("fix.timeRangeDays", "%d is negative", s.Fix.TimeRangeDays)
	}
	for fam, m := range s.Fix.Mirrors {
		if fam != "debian" && fam != "ubuntu" {
			return fieldErr("fix.mirrors", "%q: fixed images are built for debian and ubuntu", fam)
		}
		if err := m.Validate(); err != nil {
			return &FieldError{Field: "fix.mirrors." + fam, Err: err}
		}
	}
	for name, v := range map[string]int{"scan.timeRangeDays": s.Scan.TimeRangeDays, "scan.retentionDays": s.Scan.RetentionDays, "task.timeoutMinutes": s.Task.TimeoutMinutes} {
		if v < 0 {
			return fieldErr(name, "%d is negative", v)
		}
	}
	if s.Task.TimeoutMinutes == 0 {
		return fieldErr("task.timeoutMinutes", "must be at least 1")
	}
	return s.validateRest()
}

// validateRules checks scope rules and compiles their tag expressions.
func validateRules(field string, rules []Rule) error {
	if len(rules) > maxRules {
		return fieldErr(field, "%d rules, over %d", len(rules), maxRules)
	}
	for i := range rules {
		r := &rules[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		for j, n := range r.Namespaces {
			if !nameRe.MatchString(n) {
				return fieldErr(fmt.Sprintf("%s.namespaces[%d]", f, j), "%q is not a namespace name", n)
			}
		}
		for j, n := range r.Repositories {
			if !nameRe.MatchString(n) {
				return fieldErr(fmt.Sprintf("%s.repositories[%d]", f, j), "%q is not a repository name", n)
			}
		}
		if err := r.compile(); err != nil {
			return fieldErr(f+".tagRegex", "%v", err)
		}
	}
	return nil
}

func (s *Settings) validateRest() error {
	if p := s.Quota.Purchased; p != nil && *p < 0 {
		return fieldErr("quota.purchased", "%d is negative", *p)
	}
	if err := s.Checks.Validate(); err != nil {
		return &FieldError{Field: "checks", Err: err}
	}
	names := map[string]bool{}
	for i, p := range s.Policies {
		if err := p.Validate(); err != nil {
			return &FieldError{Field: fmt.Sprintf("policies[%d]", i), Err: err}
		}
		if names[p.Name] {
			return fieldErr(fmt.Sprintf("policies[%d].name", i), "%q is used twice", p.Name)
		}
		names[p.Name] = true
	}
	if s.Admission.Unscanned != "deny" && s.Admission.Unscanned != "allow" {
		return fieldErr("admission.unscanned", "%q is not deny or allow", s.Admission.Unscanned)
	}
	if _, ok := verdict.Find(s.Policies, s.Admission.Policy); !ok {
		return fieldErr("admission.policy", "no policy named %q", s.Admission.Policy)
	}
	seen := map[string]bool{}
	for i, t := range s.Notifications {
		if err := t.Validate(); err != nil {
			return &FieldError{Field: fmt.Sprintf("notifications[%d]", i), Err: err}
		}
		if seen[t.ID] {
			return fieldErr(fmt.Sprintf("notifications[%d].id", i), "%q is used twice", t.ID)
		}
		seen[t.ID] = true
	}
	return nil
}

// Masked is the document as responses show it: no notification secret.
func (s Settings) Masked() Settings {
	s.Notifications = slices.Clone(s.Notifications)
	for i := range s.Notifications {
		s.Notifications[i] = s.Notifications[i].Masked()
	}
	return s
}

func (r *Rule) compile() error {
	if r.TagRegex == "" {
		r.tag = nil
		return nil
	}
	if len(r.TagRegex) > 1024 {
		return errors.New("over 1024 characters")
	}
	re, err := regexp.Compile(`^(?:` + r.TagRegex + `)$`)
	if err != nil {
		return err
	}
	r.tag = re
	return nil
}

// Parse decodes a document over the defaults (fields it leaves out keep
// their default) and validates it.
func Parse(b []byte) (Settings, error) {
	s := Default()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Settings{}, &FieldError{Field: "document", Err: err}
	}
	if dec.More() {
		return Settings{}, fieldErr("document", "more than one JSON value")
	}
	if s.Scan.Scope == nil {
		s.Scan.Scope = []Rule{}
	}
	if s.Fix.Scope == nil {
		s.Fix.Scope = []Rule{}
	}
	if s.Notifications == nil {
		s.Notifications = []notify.Target{}
	}
	if s.Policies == nil {
		s.Policies = []verdict.Policy{}
	}
	return s, s.Validate()
}

// Connection is what scope rules match a registry by.
type Connection struct {
	ID    string
	Hosts []string
}

// Names reports whether the rule is about connection c.
func (r Rule) Names(c Connection) bool {
	return r.Registry == "" || r.Registry == c.ID || slices.Contains(c.Hosts, r.Registry)
}

// Covers reports whether the rule covers a tag of a repository
// ("team/app", without the host) of connection c.
func (r Rule) Covers(c Connection, repository, tag string) bool {
	if !r.Names(c) {
		return false
	}
	if len(r.Namespaces) > 0 || len(r.Repositories) > 0 {
		in := slices.Contains(r.Repositories, repository)
		for _, ns := range r.Namespaces {
			in = in || strings.HasPrefix(repository, ns+"/")
		}
		if !in {
			return false
		}
	}
	if r.TagRegex != "" && r.tag == nil {
		if r.compile() != nil {
			return false
		}
	}
	return r.tag == nil || r.tag.MatchString(tag)
}

// InScope reports whether the scope covers a tag of a repository of c.
func (s Scan) InScope(c Connection, repository, tag string) bool {
	if len(s.Scope) == 0 {
		return true
	}
	for _, r := range s.Scope {
		if r.Covers(c, repository, tag) {
			return true
		}
	}
	return false
}

// Names reports whether any rule names connection c (no rules name all).
func (s Scan) Names(c Connection) bool {
	if len(s.Scope) == 0 {
		return true
	}
	return slices.ContainsFunc(s.Scope, func(r Rule) bool { return r.Names(c) })
}

// CycleAt is the scan cycle now falls in: its ID and start. With the
// cycle stopped, cycles are the calendar months, for quota counting; ok
// is false then, since no periodic scan runs.
func (s Scan) CycleAt(now time.Time) (id string, start time.Time, ok bool) {
	now = now.UTC()
	length := s.Cycle.Length()
	anchor, err := time.Parse(time.RFC3339, s.CycleAnchor)
	if length == 0 || err != nil {
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return "month-" + start.Format("200601"), start, false
	}
	n := int64(0)
	if now.After(anchor) {
		n = int64(now.Sub(anchor) / length)
	}
	start = anchor.Add(time.Duration(n) * length)
	return fmt.Sprintf("%s-%s-%d", s.Cycle, anchor.UTC().Format("20060102T150405Z"), n), start, true
}

// Period is the monthly billing period of the quota at now (YYYYMM) and
// its start.
func Period(now time.Time) (string, time.Time) {
	now = now.UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start.Format("200601"), start
}

// Frozen reports whether a repository first seen at seen is out of the
// periodic scope because auto-add is off.
func (s Scan) Frozen(seen time.Time) bool {
	if s.AutoAddRepositories {
		return false
	}
	frozen, err := time.Parse(time.RFC3339, s.ScopeFrozenAt)
	return err == nil && seen.After(frozen)
}

// Stamp sets what the store sets on write, from the previous version:
// the version, who and when, the cycle anchor when the cycle changed, and
// the freeze time when auto-add was switched off.
func (s *Settings) Stamp(prev Settings, who string, now time.Time) {
	ts := now.UTC().Format(time.RFC3339)
	s.Version, s.UpdatedAt, s.UpdatedBy = prev.Version+1, ts, who
	s.Scan.CycleAnchor = prev.Scan.CycleAnchor
	if s.Scan.Cycle != prev.Scan.Cycle || s.Scan.CycleAnchor == "" {
		s.Scan.CycleAnchor = ts
	}
	s.Scan.ScopeFrozenAt = ""
	if !s.Scan.AutoAddRepositories {
		s.Scan.ScopeFrozenAt = prev.Scan.ScopeFrozenAt
		if prev.Scan.AutoAddRepositories || s.Scan.ScopeFrozenAt == "" {
			s.Scan.ScopeFrozenAt = ts
		}
	}
}
