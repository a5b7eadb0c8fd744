// Package baseline finds baseline misconfigurations in an image's files:
// empty and weak passwords in /etc/shadow, duplicate and extra UID 0
// accounts, risky sshd and sudoers settings, SUID/SGID and world-writable
// files. Each check reads one file, so it runs in the per-layer pass and its
// findings live and die with the file (a later layer that fixes /etc/shadow
// removes them).
package baseline

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind of this analyzer.
const Kind = "baseline"

// Analyzer runs the baseline checks.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 2 }

const special = fs.ModeSetuid | fs.ModeSetgid

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, mode fs.FileMode) bool {
	if mode&special != 0 || mode&0o002 != 0 {
		return true
	}
	switch p {
	case "etc/shadow", "etc/passwd", "etc/group", "etc/ssh/sshd_config", "etc/sudoers":
		return true
	}
	dir := path.Dir(p)
	if _, ok := unnecessary(p); ok {
		return true
	}
	return dir == "etc/sudoers.d" || (dir == "etc/ssh/sshd_config.d" && strings.HasSuffix(p, ".conf"))
}

// unnecessary names files that only leak: version-control metadata (the
// history, remotes and sometimes credentials of the source tree), editor
// and OS litter (Dockle DKL-LI-0003).
func unnecessary(p string) (string, bool) {
	base := path.Base(p)
	switch {
	case strings.HasSuffix(p, "/.git/HEAD") || p == ".git/HEAD":
		return "Git repository metadata (.git): the source history and remotes ship with the image", true
	case strings.HasSuffix(p, "/.svn/wc.db") || p == ".svn/wc.db":
		return "Subversion working-copy metadata (.svn)", true
	case base == ".DS_Store" || base == "Thumbs.db":
		return "Desktop OS litter (" + base + ")", true
	case base == "npm-debug.log" || base == "yarn-error.log":
		return "Package-manager debug log (" + base + ")", true
	}
	return "", false
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(ctx context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	var fs []scan.Finding
	switch dir := path.Dir(in.Path); {
	case in.Path == "etc/shadow":
		fs = CheckShadow(ctx, in.Content)
	case in.Path == "etc/passwd":
		fs = CheckPasswd(in.Content)
	case in.Path == "etc/group":
		fs = CheckGroup(in.Content)
	case in.Path == "etc/ssh/sshd_config" || dir == "etc/ssh/sshd_config.d":
		fs = CheckSSHD(in.Content)
	case in.Path == "etc/sudoers" || dir == "etc/sudoers.d":
		fs = CheckSudoers(in.Content)
	}
	fs = append(fs, CheckMode(in.Path, in.Mode, in.UID)...)
	if what, ok := unnecessary(in.Path); ok {
		fs = append(fs, finding("LS-BASELINE-UNNECESSARY-FILE", scan.Low, what, "file "+path.Base(in.Path),
			"Exclude it from the build context (.dockerignore) and rebuild.", "DKL-LI-0003"))
	}
	for i := range fs {
		fs[i].Category = scan.Baseline
		fs[i].Path = in.Path
	}
	if len(fs) == 0 {
		return nil, nil
	}
	return []scan.Artifact{{Path: in.Path, Kind: Kind, Findings: fs}}, nil
}

func finding(id string, sev scan.Severity, title, evidence, fix string, aliases ...string) scan.Finding {
	return scan.Finding{ID: id, Severity: sev, Title: title, Evidence: evidence, Remediation: fix, Aliases: aliases}
}

func lineEvidence(n int, s string) string { return fmt.Sprintf("line %d: %s", n, s) }

// lines yields the non-comment lines of a text file with their numbers.
func lines(b []byte) (out []struct {
	n    int
	text string
}) {
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(strings.TrimSuffix(l, "\r"))
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, struct {
			n    int
			text string
		}{i + 1, l})
	}
	return out
}
