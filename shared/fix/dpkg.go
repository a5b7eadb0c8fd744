package fix

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/layerscan/layerscan/shared/aptrepo"
	"github.com/layerscan/layerscan/shared/deb"
)

// dpkgDB is an image's dpkg database: /var/lib/dpkg/status, or one file
// per package under status.d/ (distroless images, which have no dpkg).
type dpkgDB struct {
	distroless bool
	paras      []deb.Paragraph
	// file is, for status.d, the file each paragraph came from.
	file []string
	// byName indexes installed packages by name.
	byName map[string]int
}

func loadDB(fs *rootfs) (*dpkgDB, error) {
	db := &dpkgDB{byName: map[string]int{}}
	add := func(p deb.Paragraph, file string) {
		name := p.Get("Package")
		if name == "" || p.Get("Version") == "" {
			return
		}
		if st := p.Get("Status"); st != "" && !strings.HasSuffix(st, " installed") {
			return // removed, config-files, half-installed: not a candidate for upgrade
		}
		db.byName[name] = len(db.paras)
		db.paras = append(db.paras, p)
		db.file = append(db.file, file)
	}
	if b, ok := fs.files["var/lib/dpkg/status"]; ok {
		// every paragraph is kept (removed packages' too): the file is
		// rewritten whole
		err := deb.ReadParagraphs(bytes.NewReader(b), func(p deb.Paragraph) error {
			if st := p.Get("Status"); p.Get("Package") != "" && (st == "" || strings.HasSuffix(st, " installed")) {
				db.byName[p.Get("Package")] = len(db.paras)
			}
			db.paras = append(db.paras, p)
			db.file = append(db.file, "")
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("/var/lib/dpkg/status: %w", err)
		}
		return db, nil
	}
	var files []string
	for p := range fs.files {
		if strings.HasPrefix(p, "var/lib/dpkg/status.d/") && !strings.HasSuffix(p, ".md5sums") {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("the image has no dpkg database (/var/lib/dpkg/status or status.d/)")
	}
	sort.Strings(files)
	db.distroless = true
	for _, f := range files {
		p, err := deb.ParseParagraph(fs.files[f])
		if err != nil {
			return nil, fmt.Errorf("/%s: %w", f, err)
		}
		add(p, f)
	}
	return db, nil
}

func (db *dpkgDB) installed(name string) (deb.Paragraph, bool) {
	i, ok := db.byName[name]
	if !ok {
		return nil, false
	}
	return db.paras[i], true
}

// sourceVersion is the source package version a paragraph was built from:
// "Source: openssl (3.0.22-1)" or, without one in brackets, the version.
func sourceVersion(p deb.Paragraph) string {
	if _, v, ok := strings.Cut(p.Get("Source"), "("); ok {
		return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), ")"))
	}
	return p.Get("Version")
}

// resolver picks the versions a fix installs: for each package asked for,
// the smallest version above the installed one that fixes every finding,
// with what its relations need beyond the image.
type resolver struct {
	db    *dpkgDB
	arch  string
	cands map[string][]aptrepo.Candidate // by name, ascending version
	// chosen are the accepted installs by name.
	chosen map[string]pick
	// missing are names a relation needs that no index read so far has.
	missing map[string]bool
	// parsed caches relation fields by package, version and fields: the
	// closure asks for the image's packages' Depends once per package it
	// moves, which was a parse per package per move.
	parsed map[string][][]deb.Relation
}

// pick is a chosen candidate and why it is installed.
type pick struct {
	cand aptrepo.Candidate
	// by is the package whose relation pulled it in ("" for one asked for).
	by string
}

func newResolver(db *dpkgDB, arch string, cands []aptrepo.Candidate) *resolver {
	r := &resolver{db: db, arch: arch, cands: map[string][]aptrepo.Candidate{}, chosen: map[string]pick{}, missing: map[string]bool{}, parsed: map[string][][]deb.Relation{}}
	r.add(cands)
	return r
}

func (r *resolver) add(cands []aptrepo.Candidate) {
	for _, c := range cands {
		if a := c.Arch(); a != r.arch && a != "all" {
			continue
		}
		r.cands[c.Name()] = append(r.cands[c.Name()], c)
	}
	for n, cs := range r.cands {
		sort.SliceStable(cs, func(i, j int) bool { return deb.Compare(cs[i].Version(), cs[j].Version()) < 0 })
		r.cands[n] = cs
	}
}

// version is the version of name after the trial and the accepted picks,
// else the installed one.
func (r *resolver) version(name string, trial map[string]pick) (string, bool) {
	if p, ok := trial[name]; ok {
		return p.cand.Version(), true
	}
	if p, ok := r.chosen[name]; ok {
		return p.cand.Version(), true
	}
	if p, ok := r.db.installed(name); ok {
		return p.Get("Version"), true
	}
	return "", false
}

func (r *resolver) control(name string, trial map[string]pick) deb.Paragraph {
	if p, ok := trial[name]; ok {
		return p.cand.Control
	}
	if p, ok := r.chosen[name]; ok {
		return p.cand.Control
	}
	p, _ := r.db.installed(name)
	return p
}

// satisfied reports whether rel holds after the trial: by a package of
// that name, or by one that Provides it.
func (r *resolver) satisfied(rel deb.Relation, trial map[string]pick) bool {
	if v, ok := r.version(rel.Name, trial); ok && rel.Satisfies(v) {
		return true
	}
	check := func(c deb.Paragraph) bool {
		provs := r.relations(c, "Provides")
		for _, g := range provs {
			for _, pr := range g {
				if pr.Name != rel.Name {
					continue
				}
				if rel.Op == "" || (pr.Op == "=" && rel.Satisfies(pr.Version)) {
					return true
				}
			}
		}
		return false
	}
	for name := range r.db.byName {
		if _, upgraded := trial[name]; upgraded {
			continue
		}
		if _, upgraded := r.chosen[name]; upgraded {
			continue
		}
		if p, _ := r.db.installed(name); check(p) {
			return true
		}
	}
	for _, m := range []map[string]pick{trial, r.chosen} {
		for _, p := range m {
			if check(p.cand.Control) {
				return true
			}
		}
	}
	return false
}

// candidateFor is the smallest candidate of name that satisfies ok and is
// not older than what the image has.
func (r *resolver) candidateFor(name string, ok func(aptrepo.Candidate) bool) (aptrepo.Candidate, bool) {
	inst, has := r.db.installed(name)
	for _, c := range r.cands[name] {
		if has && deb.Compare(c.Version(), inst.Get("Version")) < 0 {
			continue
		}
		if ok(c) {
			return c, true
		}
	}
	return aptrepo.Candidate{}, false
}

// relations are a paragraph's relation fields, parsed once per package
// version; a field that does not parse is left out.
func (r *resolver) relations(p deb.Paragraph, fields ...string) [][]deb.Relation {
	key := p.Get("Package") + "\x00" + p.Get("Version") + "\x00" + strings.Join(fields, ",")
	if got, ok := r.parsed[key]; ok {
		return got
	}
	var out [][]deb.Relation
	for _, f := range fields {
		rs, err := deb.ParseRelations(p.Get(f))
		if err == nil {
			out = append(out, rs...)
		}
	}
	r.parsed[key] = out
	return out
}

// refusal says why a package is not fixed.
type refusal struct{ reason string }

func (e refusal) Error() string { return e.reason }

// try builds the closure of installing root at cand on top of the
// accepted picks, without accepting it.
func (r *resolver) try(root string, cand aptrepo.Candidate) (map[string]pick, error) {
	trial := map[string]pick{root: {cand: cand}}
	queue := []string{root}
	for steps := 0; len(queue) > 0; steps++ {
		if steps > 500 {
			return nil, refusal{"the dependencies of " + root + " go on beyond 500 packages"}
		}
		name := queue[0]
		queue = queue[1:]
		c := trial[name].cand
		// what the new version needs
		for _, group := range r.relations(c.Control, "Pre-Depends", "Depends") {
			if r.anySatisfied(group, trial) {
				continue
			}
			got := ""
			for _, alt := range group {
				alt := alt
				nc, ok := r.candidateFor(alt.Name, func(x aptrepo.Candidate) bool { return alt.Satisfies(x.Version()) })
				if ok {
					trial[alt.Name] = pick{cand: nc, by: name}
					queue = append(queue, alt.Name)
					got = alt.Name
					break
				}
				if _, known := r.cands[alt.Name]; !known {
					if _, inst := r.db.installed(alt.Name); !inst {
						r.missing[alt.Name] = true
					}
				}
			}
			if got == "" {
				return nil, refusal{fmt.Sprintf("%s %s needs %s, which neither the image nor the repositories satisfy", c.Name(), c.Version(), groupString(group))}
			}
		}
		// what it breaks among the packages the image keeps
		for _, group := range r.relations(c.Control, "Breaks", "Conflicts") {
			for _, rel := range group {
				if rel.Name == name {
					continue
				}
				if _, moving := trial[rel.Name]; moving {
					continue
				}
				v, ok := r.version(rel.Name, trial)
				if !ok || !rel.Satisfies(v) {
					continue
				}
				rel := rel
				nc, ok := r.candidateFor(rel.Name, func(x aptrepo.Candidate) bool { return !rel.Satisfies(x.Version()) })
				if !ok {
					return nil, refusal{fmt.Sprintf("%s %s breaks %s %s, and the repositories have no version of %s it does not break", c.Name(), c.Version(), rel.Name, v, rel.Name)}
				}
				trial[rel.Name] = pick{cand: nc, by: name}
				queue = append(queue, rel.Name)
			}
		}
		// the image's packages that need the old version
		for other := range r.db.byName {
			if _, moving := trial[other]; moving {
				continue
			}
			if _, moving := r.chosen[other]; moving {
				continue
			}
			p := r.control(other, trial)
			for _, group := range r.relations(p, "Pre-Depends", "Depends") {
				if !mentions(group, name) || r.anySatisfied(group, trial) {
					continue
				}
				nc, ok := r.candidateFor(other, func(x aptrepo.Candidate) bool {
					t := map[string]pick{other: {cand: x}}
					for k, v := range trial {
						t[k] = v
					}
					for _, g := range r.relations(x.Control, "Pre-Depends", "Depends") {
						if mentions(g, name) && !r.anySatisfied(g, t) {
							return false
						}
					}
					return true
				})
				if !ok {
					return nil, refusal{fmt.Sprintf("%s %s would break %s %s, which needs %s", c.Name(), c.Version(), other, p.Get("Version"), groupString(group))}
				}
				trial[other] = pick{cand: nc, by: name}
				queue = append(queue, other)
				break
			}
		}
	}
	return trial, nil
}

func (r *resolver) anySatisfied(group []deb.Relation, trial map[string]pick) bool {
	for _, alt := range group {
		if r.satisfied(alt, trial) {
			return true
		}
	}
	return false
}

func mentions(group []deb.Relation, name string) bool {
	for _, r := range group {
		if r.Name == name {
			return true
		}
	}
	return false
}

func groupString(group []deb.Relation) string {
	s := make([]string, len(group))
	for i, r := range group {
		s[i] = r.String()
	}
	return strings.Join(s, " | ")
}

// listName is the name of a package's files under var/lib/dpkg/info:
// "<pkg>:<arch>" for Multi-Arch: same packages, as dpkg names them.
func listName(fs *rootfs, p deb.Paragraph) string {
	name, arch := p.Get("Package"), p.Get("Architecture")
	qualified := name + ":" + arch
	if _, ok := fs.entries[path.Join("var/lib/dpkg/info", qualified+".list")]; ok {
		return qualified
	}
	if _, ok := fs.entries[path.Join("var/lib/dpkg/info", name+".list")]; ok {
		return name
	}
	if p.Get("Multi-Arch") == "same" {
		return qualified
	}
	return name
}
