// Package secret finds sensitive files in the per-layer pass: private keys,
// cloud credentials, tokens, passwords in application configs, credential
// files and key stores. A keyword prefilter runs before any regular
// expression, path rules skip third-party and documentation trees, and
// every value is masked before it leaves the analyzer. Findings are of the
// sensitive-file category, so a secret that a later layer deletes is still
// reported: its bytes ship in the lower layer's blob.
package secret

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strings"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/keyword"
	"github.com/layerscan/layerscan/shared/redact"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind of this analyzer.
const Kind = "secret"

// MaxFileBytes is the largest file searched for secrets; configs and keys
// are small, and larger text is logs or data.
const MaxFileBytes = 8 << 20

// Analyzer finds secrets.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 2 }

// skipDirs hold third-party code, documentation and system data whose test
// keys and examples are not the image owner's secrets.
var skipDirs = []string{
	"usr/share/", "usr/include/", "usr/lib/locale/", "var/lib/dpkg/", "var/lib/apt/", "var/lib/rpm/", "var/cache/",
	"lib/apk/", "proc/", "sys/", "dev/", "usr/lib/go/", "usr/local/go/", "usr/lib/jvm/", "usr/lib/ruby/",
}

var skipSegments = []string{"/node_modules/", "/site-packages/", "/dist-packages/", "/vendor/", "/testdata/", "/test/fixtures/", "/.cargo/registry/", "/go/pkg/mod/", "/gems/"}

var skipExts = map[string]bool{
	".so": true, ".a": true, ".o": true, ".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".ico": true, ".svg": true,
	".woff": true, ".woff2": true, ".ttf": true, ".otf": true, ".gz": true, ".xz": true, ".bz2": true, ".zst": true, ".zip": true,
	".jar": true, ".war": true, ".pyc": true, ".class": true, ".mo": true, ".wasm": true, ".mp3": true, ".mp4": true, ".pdf": true,
	".deb": true, ".rpm": true, ".apk": true, ".whl": true, ".egg": true, ".db": true, ".sqlite": true, ".pem.sig": true,
}

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, mode fs.FileMode) bool {
	for _, d := range skipDirs {
		if strings.HasPrefix(p, d) {
			return false
		}
	}
	slashed := "/" + p
	for _, s := range skipSegments {
		if strings.Contains(slashed, s) {
			return false
		}
	}
	ext := strings.ToLower(path.Ext(p))
	if keystoreExts[ext] {
		return true
	}
	return !skipExts[ext]
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	if in.Size > MaxFileBytes && !keystoreExts[strings.ToLower(path.Ext(in.Path))] && !isBinary(in.Content) {
		return []scan.Artifact{{Path: in.Path, Kind: Kind, Warning: fmt.Sprintf("not searched for secrets: %d bytes is over the %d-byte cap", in.Size, MaxFileBytes)}}, nil
	}
	fs := Scan(in.Path, in.Content)
	if len(fs) == 0 {
		return nil, nil
	}
	return []scan.Artifact{{Path: in.Path, Kind: Kind, Findings: fs}}, nil
}

// Scan returns the masked secret findings of one file.
func Scan(p string, b []byte) []scan.Finding {
	base := path.Base(p)
	ext := strings.ToLower(path.Ext(p))
	if keystoreExts[ext] {
		if len(b) == 0 {
			return nil
		}
		return []scan.Finding{newFinding("LS-SECRET-KEYSTORE", scan.Medium, "Key store file ("+ext+")", "file of "+fmt.Sprint(len(b))+" bytes",
			"Remove the key store from the image and mount it at run time; rotate the keys it holds.")}
	}
	if len(b) > MaxFileBytes || isBinary(b) {
		return nil
	}
	var out []scan.Finding
	hit, n := prefilter.Find(b)
	if n > 0 {
		for i := range Rules {
			for _, k := range ruleKeywords[i] {
				if hit[k] {
					out = append(out, Rules[i].find(b)...)
					break
				}
			}
		}
	}
	if configFiles[base] || strings.HasPrefix(base, ".env") || strings.HasSuffix(base, ".env") ||
		(strings.HasPrefix(base, "application-") && (ext == ".properties" || ext == ".yml" || ext == ".yaml")) {
		out = append(out, configPasswords(b, out)...)
	}
	if what, ok := credentialFiles[base]; ok && len(out) == 0 && len(bytes.TrimSpace(b)) > 0 {
		out = append(out, newFinding("LS-SECRET-CREDENTIAL-FILE", scan.Medium, what, "file of "+fmt.Sprint(len(b))+" bytes",
			"Remove the file from the image and rotate what it holds; provide credentials at run time."))
	}
	return out
}

func newFinding(id string, sev scan.Severity, title, evidence, fix string) scan.Finding {
	return scan.Finding{Category: scan.SensitiveFile, ID: id, Severity: sev, Title: title, Evidence: evidence, Remediation: fix}
}

// isBinary looks for NUL bytes in the first 8 KiB, as git and grep do.
func isBinary(b []byte) bool {
	if len(b) > 8192 {
		b = b[:8192]
	}
	return bytes.IndexByte(b, 0) >= 0
}

// prefilter finds every rule's keywords in one pass; ruleKeywords[i] are
// the keyword indexes of Rules[i].
var prefilter, ruleKeywords = func() (*keyword.Matcher, [][]int) {
	var kws []keyword.Keyword
	idx := make([][]int, len(Rules))
	for i, r := range Rules {
		for _, k := range r.Keywords {
			idx[i] = append(idx[i], len(kws))
			kws = append(kws, keyword.Keyword{Text: []byte(k)})
		}
	}
	return keyword.New(kws), idx
}()

// find runs a rule whose keyword occurs in b.
func (r *Rule) find(b []byte) []scan.Finding {
	var out []scan.Finding
	seenLine := map[int]bool{}
	companion := r.Companion != nil && r.Companion.Match(b)
	for _, m := range r.Pattern.FindAllSubmatchIndex(b, 16) {
		val, start := "", m[0]
		for g := 1; g < len(m)/2; g++ {
			if m[2*g] >= 0 {
				val, start = string(b[m[2*g]:m[2*g+1]]), m[2*g]
				if r.ID == "LS-SECRET-PRIVATE-KEY" {
					break // group 1 names the key type; the body is group 2
				}
			}
		}
		line := 1 + bytes.Count(b[:start], []byte("\n"))
		if seenLine[line] || (r.MinEntropy > 0 && entropy(val) < r.MinEntropy) || placeholderRe.MatchString(val) {
			continue
		}
		seenLine[line] = true
		f := newFinding(r.ID, r.Severity, r.Title, fmt.Sprintf("line %d: %s", line, redact.Mask(val)), r.Fix)
		if r.ID == "LS-SECRET-PRIVATE-KEY" {
			f.Title = strings.TrimSpace(val) + " (" + r.Title + ")"
			f.Evidence = fmt.Sprintf("line %d: -----BEGIN %s----- …", line, val)
		}
		if companion {
			f.Severity, f.Title = r.CompanionSeverity, r.CompanionTitle
		}
		out = append(out, f)
	}
	return out
}

// configPasswords reads password-like keys of application configs; lines a
// specific rule already reported are skipped.
func configPasswords(b []byte, already []scan.Finding) []scan.Finding {
	taken := map[string]bool{}
	var companions []*Rule
	for _, f := range already {
		ln, _, _ := strings.Cut(f.Evidence, ":")
		taken[ln] = true
		for i := range Rules {
			if Rules[i].ID == f.ID && Rules[i].Companion != nil {
				companions = append(companions, &Rules[i])
			}
		}
	}
	var out []scan.Finding
	for i, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' || strings.HasPrefix(t, "//") || strings.HasPrefix(t, ";") {
			continue
		}
		ln := fmt.Sprintf("line %d", i+1)
		if taken[ln] || companionLine(companions, t) {
			continue // already part of a specific finding (an AccessKey's secret)
		}
		for _, m := range configLineRe.FindAllStringSubmatch(t, -1) {
			key, val := m[1]+m[3], m[2]+m[4]
			if placeholderRe.MatchString(val) || len(val) < 4 {
				continue
			}
			lk := strings.ToLower(key)
			if !strings.Contains(lk, "pass") && !strings.Contains(lk, "pwd") && entropy(val) < 3.0 {
				continue // a token or key name with a low-entropy value is a setting, not a secret
			}
			out = append(out, newFinding("LS-SECRET-CONFIG-PASSWORD", scan.High, "Password or secret in an application config",
				fmt.Sprintf("%s: %s=%s", ln, key, redact.Mask(val)),
				"Move the value out of the image into the runtime's secret store (environment from a secret, mounted file), and rotate it."))
			break
		}
	}
	return out
}

func companionLine(rules []*Rule, line string) bool {
	for _, r := range rules {
		if r.Companion.MatchString(line) {
			return true
		}
	}
	return false
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(len(s))
			h -= p * math.Log2(p)
		}
	}
	return h
}
