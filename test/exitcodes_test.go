package test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/updater"
)

func mustFS(t *testing.T, dir string) *store.FS {
	st, err := store.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestHonestExitCodes: a severity gate says how many findings it hid and
// how many of them are UNKNOWN; under --exit-code a report whose
// vulnerabilities were not checked exits 3 unless --allow-unchecked.
func TestHonestExitCodes(t *testing.T) {
	bin := buildCLI(t)
	db := advisoryStore(t)
	// A DB of npm advisories only: an rpm image against it is not checked.
	npmOnly := t.TempDir()
	if _, err := (&updater.Updater{Store: mustFS(t, npmOnly)}).SyncAdvisories(context.Background(), npmMirror(t)); err != nil {
		t.Fatal(err)
	}
	storeOf := func(args []string) (string, []string) {
		if len(args) > 0 && args[0] == "npm-only" {
			return npmOnly, args[1:]
		}
		return db, args
	}
	run := func(args ...string) (int, string, string) {
		st, args := storeOf(args)
		cmd := exec.Command(bin, append([]string{"scan", "--store", st, "--quiet", "--format", "json"}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), out.String(), errb.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String(), errb.String()
	}
	code, out, stderr := run("--severity", "CRITICAL", "--exit-code", "1", corpusImage(t, "debian-bookworm-app").Location)
	var r report.Report
	json.Unmarshal([]byte(out), &r)
	if r.Filtered == nil || r.Filtered.Hidden == 0 || r.Filtered.HiddenUnknown == 0 || !strings.Contains(stderr, "UNKNOWN severity") || code != 1 {
		t.Errorf("severity gate on Debian: exit %d, filtered %+v, stderr %s", code, r.Filtered, stderr)
	}
	rhel := corpusImage(t, "rpm-rhel-8.8-bdb.tar").Location
	if code, _, stderr := run("npm-only", "--severity", "CRITICAL", "--exit-code", "1", rhel); code != 3 || !strings.Contains(stderr, "not checked") {
		t.Errorf("a not-checked report under --exit-code: exit %d, %s", code, stderr)
	}
	if code, _, _ := run("npm-only", "--severity", "CRITICAL", "--exit-code", "1", "--allow-unchecked", rhel); code != 0 {
		t.Errorf("--allow-unchecked: exit %d", code)
	}
	if code, _, _ := run("npm-only", "--severity", "CRITICAL", rhel); code != 0 {
		t.Errorf("no gate: exit %d", code)
	}

	// --policy: the verdict is the exit code. The corpus Debian image
	// carries a malicious sample and sensitive files; a policy file that
	// denies only MEDIUM-or-worse baseline findings lets the RHEL one pass.
	if code, _, stderr := run("--policy", "default", corpusImage(t, "debian-bookworm-app").Location); code != 1 || !strings.Contains(stderr, "policy default: DENY") || !strings.Contains(stderr, "malicious-sample") {
		t.Errorf("--policy default: exit %d, %s", code, stderr)
	}
	lenient := filepath.Join(t.TempDir(), "lenient.json")
	os.WriteFile(lenient, []byte(`{"name":"lenient","denyCategories":["malicious-sample"],"notChecked":"allow"}`), 0o644)
	if code, _, stderr := run("--policy", lenient, rhel); code != 0 || !strings.Contains(stderr, "policy lenient: ALLOW") {
		t.Errorf("--policy FILE: exit %d, %s", code, stderr)
	}
	if code, _, _ := run("--policy", "no-such-policy", rhel); code != 2 {
		t.Errorf("an unknown policy: exit %d", code)
	}
}
