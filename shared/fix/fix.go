// Package fix builds fixed images without a container runtime: for an
// image whose report lists system vulnerabilities with fixed versions, it
// reads the distribution's signed repository, picks for each vulnerable
// package the smallest version that fixes all of its findings (with what
// that version needs beyond the image), downloads and verifies the
// packages, and appends one layer holding their files and the updated
// package database. The original layers are untouched. Maintainer scripts
// are not run; the result says which packages have them and what that may
// leave undone.
package fix

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/layerscan/layerscan/shared/aptrepo"
	"github.com/layerscan/layerscan/shared/deb"
	"github.com/layerscan/layerscan/shared/match"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
)

// How a finding can be fixed, as reports and fix tasks say it.
const (
	FixImage    = match.FixImage
	FixCommands = match.FixCommands
	FixNone     = match.FixNone
)

// Defaults are the distributions' own archives and keyrings.
var Defaults = map[string]aptrepo.Mirror{
	"debian": {
		Suites: []aptrepo.Suite{
			{URL: "http://deb.debian.org/debian", Name: "{codename}"},
			{URL: "http://deb.debian.org/debian", Name: "{codename}-updates"},
			{URL: "http://deb.debian.org/debian-security", Name: "{codename}-security"},
		},
		Keyring: "/usr/share/keyrings/debian-archive-keyring.gpg",
	},
	"ubuntu": {
		Suites: []aptrepo.Suite{
			{URL: "http://archive.ubuntu.com/ubuntu", Name: "{codename}"},
			{URL: "http://archive.ubuntu.com/ubuntu", Name: "{codename}-updates"},
			{URL: "http://security.ubuntu.com/ubuntu", Name: "{codename}-security"},
		},
		Keyring: "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
	},
}

// Fixer builds fixed images.
type Fixer struct {
	// Mirrors overrides Defaults per distribution family.
	Mirrors map[string]aptrepo.Mirror
	// HTTP fetches repository data; it must be the guarded client.
	HTTP *http.Client
	Now  func() time.Time
	// TempDir holds downloaded packages and the layer ("" for the system's).
	TempDir string
}

// Request says what to fix.
type Request struct {
	// Findings are the IDs (or aliases) to fix; none means every system
	// vulnerability with a fixed version that is not whitelisted.
	Findings []string
	// Note goes into the history line (the task ID).
	Note string
}

// Upgrade is one package the fix installs.
type Upgrade struct {
	Package string `json:"package"`
	From    string `json:"from,omitempty"`
	To      string `json:"to"`
	// Origin is the suite and component the version came from.
	Origin string `json:"origin"`
	// PulledBy names the package whose relation needs this one.
	PulledBy string   `json:"pulledBy,omitempty"`
	Findings []string `json:"findings,omitempty"`
	// Scripts are the maintainer scripts it ships (not run), Undone what
	// they would have done.
	Scripts []string `json:"scripts,omitempty"`
	Undone  []string `json:"undone,omitempty"`
}

// Refused is a package the fix leaves as it is, and why.
type Refused struct {
	Package  string   `json:"package"`
	Version  string   `json:"version,omitempty"`
	Findings []string `json:"findings"`
	Reason   string   `json:"reason"`
}

// Result is a fix's plan and outcome.
type Result struct {
	Fixable  string    `json:"fixable"`
	Family   string    `json:"family,omitempty"`
	Release  string    `json:"release,omitempty"`
	Upgrades []Upgrade `json:"upgrades"`
	Refused  []Refused `json:"refused"`
	// Commands are what to run where no image can be built.
	Commands []string `json:"commands,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	// Repositories are the verified suites and who signed them.
	Repositories []string `json:"repositories,omitempty"`
	History      string   `json:"history,omitempty"`
	Layer        *Layer   `json:"layer,omitempty"`
	// Image is the fixed image; nil when nothing was upgraded. It reads its
	// fix layer from a local file until Close.
	Image v1.Image `json:"-"`
	dir   string
}

// Layer describes the fix layer.
type Layer struct {
	Digest string `json:"digest"`
	DiffID string `json:"diffID"`
	Size   int64  `json:"size"`
}

// target is one installed binary package to upgrade.
type target struct {
	name     string
	findings []string
	// minSource is the highest fixed source version among its findings.
	minSource string
}

func wanted(f scan.Finding, ids map[string]bool) bool {
	if f.Category != scan.SystemVulnerability || f.Package == nil || f.FixedVersion == "" {
		return false
	}
	if len(ids) == 0 {
		return !f.Whitelisted
	}
	if ids[f.ID] {
		return true
	}
	for _, a := range f.Aliases {
		if ids[a] {
			return true
		}
	}
	return false
}

func (f *Fixer) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}

// Fix plans and, for dpkg families, builds the fixed image of img, whose
// report is rep.
func (f *Fixer) Fix(ctx context.Context, img v1.Image, rep *report.Report, req Request) (res *Result, err error) {
	ids := map[string]bool{}
	for _, id := range req.Findings {
		ids[id] = true
	}
	res = &Result{Fixable: FixNone, Upgrades: []Upgrade{}, Refused: []Refused{}}
	var os_ *scan.OS
	if rep.Image.OS != nil {
		os_ = rep.Image.OS
		res.Family, res.Release = os_.Family, os_.Codename
	}
	byPkg := map[string]*target{}
	var order []string
	for _, fd := range rep.Findings {
		if !wanted(fd, ids) {
			continue
		}
		if res.Fixable == FixNone {
			res.Fixable = FixCommands
		}
		if fd.Package.Type != "deb" || os_ == nil {
			res.Commands = appendUnique(res.Commands, match.Remediation(os_, scan.Package{Name: fd.Package.Name, Version: fd.Package.Version, Type: fd.Package.Type}, fd.FixedVersion))
			continue
		}
		t, ok := byPkg[fd.Package.Name]
		if !ok {
			t = &target{name: fd.Package.Name}
			byPkg[t.name] = t
			order = append(order, t.name)
		}
		t.findings = appendUnique(t.findings, fd.ID)
		if t.minSource == "" || deb.Compare(fd.FixedVersion, t.minSource) > 0 {
			t.minSource = fd.FixedVersion
		}
	}
	if len(byPkg) == 0 {
		return res, nil
	}
	distro, ok := f.distro(res.Family)
	if !ok || res.Release == "" {
		res.Fixable = FixCommands
		for _, n := range order {
			res.Commands = appendUnique(res.Commands, match.Remediation(os_, scan.Package{Name: n, Type: "deb"}, byPkg[n].minSource))
		}
		res.Notes = append(res.Notes, fmt.Sprintf("fix images are not supported for this distribution (%s %s): apply these commands", res.Family, res.Release))
		return res, nil
	}
	res.Fixable = FixImage
	sort.Strings(order)

	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("image layers: %w", err)
	}
	fs, err := readRootfs(ctx, layers, func(p string) bool { return strings.HasPrefix(p, "etc/") })
	if err != nil {
		return nil, fmt.Errorf("read the image's filesystem: %w", err)
	}
	db, err := loadDB(fs)
	if err != nil {
		return nil, err
	}

	tmp, err := os.MkdirTemp(f.TempDir, "layerscan-fix-*")
	if err != nil {
		return nil, err
	}
	res.dir = tmp
	defer func(work *Result) {
		if err != nil {
			work.Close() // the caller gets no result to close
		}
	}(res)
	client, releases, err := f.repositories(ctx, distro, res.Release)
	if err != nil {
		return nil, err
	}
	// the verified indexes are kept for the reads of packages that a
	// relation names, so no index is downloaded twice
	client.Dir = filepath.Join(tmp, "indexes")
	if err := os.Mkdir(client.Dir, 0o700); err != nil {
		return nil, err
	}
	for _, r := range releases {
		res.Repositories = append(res.Repositories, r.Suite.String()+" (signed by "+r.SignedBy+")")
	}
	read := func(names map[string]bool) ([]aptrepo.Candidate, error) {
		var all []aptrepo.Candidate
		for _, r := range releases {
			cs, err := client.Packages(ctx, r, cfg.Architecture, func(n string) bool { return names[n] })
			if err != nil {
				return nil, err
			}
			all = append(all, cs...)
		}
		return all, nil
	}
	names := map[string]bool{}
	for n := range db.byName {
		names[n] = true
	}
	cands, err := read(names)
	if err != nil {
		return nil, err
	}
	rs := newResolver(db, cfg.Architecture, cands)
	debs := map[string]fetched{}
	for _, n := range order {
		t := byPkg[n]
		inst, ok := db.installed(n)
		if !ok {
			res.Refused = append(res.Refused, Refused{Package: n, Findings: t.findings, Reason: "the package is not installed in the image's dpkg database"})
			continue
		}
		refuse := func(version, reason string) {
			res.Refused = append(res.Refused, Refused{Package: n, Version: version, Findings: t.findings, Reason: reason})
		}
		if p, done := rs.chosen[n]; done && deb.Compare(sourceVersion(p.cand.Control), t.minSource) >= 0 {
			continue // pulled in by an earlier one, at a version that fixes it
		}
		cand, ok := rs.candidateFor(n, func(c aptrepo.Candidate) bool {
			return deb.Compare(c.Version(), inst.Get("Version")) > 0 && deb.Compare(sourceVersion(c.Control), t.minSource) >= 0
		})
		if !ok {
			newest := "none"
			if cs := rs.cands[n]; len(cs) > 0 {
				newest = cs[len(cs)-1].Version()
			}
			refuse("", fmt.Sprintf("no version in the repositories fixes it (needs source version %s or later; newest offered: %s)", t.minSource, newest))
			continue
		}
		trial, err := rs.try(n, cand)
		if err != nil && len(rs.missing) > 0 {
			// a relation names packages the image lacks: read them and retry
			more, rerr := read(rs.missing)
			if rerr != nil {
				return nil, rerr
			}
			rs.missing = map[string]bool{}
			rs.add(more)
			trial, err = rs.try(n, cand)
		}
		if err != nil {
			refuse(cand.Version(), err.Error())
			continue
		}
		var ferr error
		for name, p := range trial {
			if _, ok := debs[name+" "+p.cand.Version()]; ok {
				continue
			}
			file, err := f.download(ctx, client, tmp, p.cand)
			if err != nil {
				ferr = err
				break
			}
			debs[name+" "+p.cand.Version()] = fetched{pick: p, file: file}
		}
		if ferr != nil {
			refuse(cand.Version(), "download refused: "+ferr.Error())
			continue
		}
		for name, p := range trial {
			rs.chosen[name] = p
		}
	}
	os.RemoveAll(client.Dir)
	if len(rs.chosen) == 0 {
		res.Close()
		return res, nil
	}
	err = f.build(img, fs, db, rs, debs, byPkg, req, res, tmp)
	for _, d := range debs {
		os.Remove(d.file)
	}
	return res, err
}

// Close removes the fix's files (the layer the fixed image reads).
func (r *Result) Close() error {
	if r == nil || r.dir == "" {
		return nil
	}
	d := r.dir
	r.dir = ""
	return os.RemoveAll(d)
}

func (f *Fixer) distro(family string) (aptrepo.Mirror, bool) {
	if d, ok := f.Mirrors[family]; ok {
		return d, true
	}
	d, ok := Defaults[family]
	return d, ok
}

// repositories verifies the suites of the release: every one must verify,
// or nothing is used.
func (f *Fixer) repositories(ctx context.Context, d aptrepo.Mirror, codename string) (*aptrepo.Client, []*aptrepo.Release, error) {
	kr, err := d.ReadKeyring()
	if err != nil {
		return nil, nil, err
	}
	c := &aptrepo.Client{HTTP: f.HTTP, Keyring: kr, Now: f.Now}
	var out []*aptrepo.Release
	for _, s := range d.Suites {
		s.Name = strings.ReplaceAll(s.Name, "{codename}", codename)
		r, err := c.Release(ctx, s)
		if err != nil {
			return nil, nil, fmt.Errorf("repository %s refused: %w", s, err)
		}
		out = append(out, r)
	}
	return c, out, nil
}

func (f *Fixer) download(ctx context.Context, c *aptrepo.Client, dir string, cand aptrepo.Candidate) (string, error) {
	file, err := os.CreateTemp(dir, "*.deb")
	if err != nil {
		return "", err
	}
	err = c.Fetch(ctx, cand, file)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file.Name())
		return "", err
	}
	return file.Name(), nil
}

// build writes the fix layer and appends it to img.
func (f *Fixer) build(img v1.Image, fs *rootfs, db *dpkgDB, rs *resolver, debs map[string]fetched, targets map[string]*target, req Request, res *Result, tmp string) error {
	layerPath := filepath.Join(tmp, "fix-layer.tar.gz")
	out, err := os.Create(layerPath)
	if err != nil {
		return err
	}
	defer out.Close()
	zw, _ := gzip.NewWriterLevel(out, gzip.BestSpeed)
	diff := sha256.New()
	w := &layerWriter{tw: tar.NewWriter(io.MultiWriter(zw, diff)), fs: fs, db: db, now: f.now(), written: map[string]bool{}}
	names := make([]string, 0, len(rs.chosen))
	for n := range rs.chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	updated := map[string]deb.Paragraph{}
	var summary []string
	for _, n := range names {
		p := rs.chosen[n]
		fe := debs[n+" "+p.cand.Version()]
		para, pkg, err := w.install(fe)
		if err != nil {
			return fmt.Errorf("unpack %s %s: %w", n, p.cand.Version(), err)
		}
		updated[n] = para
		u := Upgrade{Package: n, To: p.cand.Version(), Origin: p.cand.Origin(), PulledBy: p.by, Scripts: pkg.Scripts(), Undone: scriptEffects(pkg)}
		if old, ok := db.installed(n); ok {
			u.From = old.Get("Version")
		}
		if t, ok := targets[n]; ok && deb.Compare(sourceVersion(p.cand.Control), t.minSource) >= 0 {
			u.Findings = t.findings
		}
		res.Upgrades = append(res.Upgrades, u)
		summary = append(summary, fmt.Sprintf("%s %s→%s", n, u.From, u.To))
	}
	if err := w.database(updated); err != nil {
		return err
	}
	if err := w.tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	res.Notes = append(res.Notes, w.notes...)
	for _, u := range res.Upgrades {
		if len(u.Scripts) > 0 {
			undone := "nothing known"
			if len(u.Undone) > 0 {
				undone = strings.Join(u.Undone, ", ")
			}
			res.Notes = append(res.Notes, fmt.Sprintf("%s: maintainer scripts not run (%s); this may leave undone: %s", u.Package, strings.Join(u.Scripts, ", "), undone))
		}
	}
	mt := types.DockerLayer
	if m, err := img.MediaType(); err == nil && m == types.OCIManifestSchema1 {
		mt = types.OCILayer
	}
	layer, err := tarball.LayerFromFile(layerPath, tarball.WithMediaType(mt))
	if err != nil {
		return err
	}
	res.History = "layerscan fix: upgraded " + strings.Join(summary, ", ") + " (maintainer scripts not run)"
	if req.Note != "" {
		res.History += "; " + req.Note
	}
	fixed, err := mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: mt, History: v1.History{
		Created: v1.Time{Time: f.now()}, CreatedBy: res.History, Comment: "layerscan one-click fix",
	}})
	if err != nil {
		return err
	}
	d, _ := layer.Digest()
	dd, _ := layer.DiffID()
	sz, _ := layer.Size()
	res.Layer = &Layer{Digest: d.String(), DiffID: dd.String(), Size: sz}
	res.Image = fixed
	return nil
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
