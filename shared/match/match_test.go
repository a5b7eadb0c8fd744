package match

import (
	"context"
	"testing"

	"github.com/layerscan/layerscan/shared/scan"

	"github.com/google/osv-scalibr/semantic"

	"github.com/layerscan/layerscan/shared/advisory"
)

func TestAffected(t *testing.T) {
	ev := func(kv ...string) []advisory.Event {
		var out []advisory.Event
		for i := 0; i < len(kv); i += 2 {
			switch kv[i] {
			case "i":
				out = append(out, advisory.Event{Introduced: kv[i+1]})
			case "f":
				out = append(out, advisory.Event{Fixed: kv[i+1]})
			case "l":
				out = append(out, advisory.Event{LastAffected: kv[i+1]})
			}
		}
		return out
	}
	cases := []struct {
		eco, installed string
		events         []advisory.Event
		versions       []string
		affected       bool
		fixed          string
	}{
		// PYSEC lists its events out of order: both ranges must count.
		{"PyPI", "1.26.12", ev("i", "2.0.0", "f", "2.0.6", "i", "0", "f", "1.26.17"), nil, true, "1.26.17"},
		{"PyPI", "2.0.5", ev("i", "2.0.0", "f", "2.0.6", "i", "0", "f", "1.26.17"), nil, true, "2.0.6"},
		{"PyPI", "1.26.17", ev("i", "2.0.0", "f", "2.0.6", "i", "0", "f", "1.26.17"), nil, false, ""},
		{"Debian", "5.36.0-7+deb12u3", ev("i", "0", "f", "5.36.0-7+deb12u4"), nil, true, "5.36.0-7+deb12u4"},
		{"Debian", "1:1.2.13.dfsg-1", ev("i", "0", "f", "1.2.13"), nil, false, ""}, // the epoch wins
		{"Alpine", "1.1.1a-r1", ev("i", "0", "f", "1.1.1b-r1"), nil, true, "1.1.1b-r1"},
		{"Alpine", "1.29.3-r10", ev("i", "0", "f", "1.29.3-r10"), nil, false, ""},
		{"AlmaLinux", "2.34-28.el9_0", ev("i", "0", "f", "2.34-60.el9_2.7"), nil, true, "2.34-60.el9_2.7"},
		{"npm", "1.2.0", ev("i", "0", "f", "0.2.1", "i", "1.0.0", "f", "1.2.3"), nil, true, "1.2.3"},
		{"npm", "0.2.0", ev("i", "0", "l", "0.1.9"), nil, false, ""},
		{"npm", "0.1.1", nil, []string{"0.1.1"}, true, ""},
		{"Go", "0.3.5", ev("i", "0", "f", "0.3.7"), nil, true, "0.3.7"},
	}
	for _, c := range cases {
		v, err := semantic.Parse(c.installed, c.eco)
		if err != nil {
			t.Fatal(err)
		}
		e := advisory.Entry{ID: "X", Versions: c.versions}
		if c.events != nil {
			e.Ranges = []advisory.Range{{Type: "ECOSYSTEM", Events: c.events}}
		}
		aff, fixed, err := Affected(v, c.eco, e)
		if err != nil || aff != c.affected || fixed != c.fixed {
			t.Errorf("%s %s: affected=%v fixed=%q err=%v, want %v %q", c.eco, c.installed, aff, fixed, err, c.affected, c.fixed)
		}
	}
}

// TestEveryDetectedFamilyHasAnEcosystem: each family the service detects
// maps to a feed's ecosystem; one without data is reported not checked
// (Match's coverage), never clean.
func TestEveryDetectedFamilyHasAnEcosystem(t *testing.T) {
	for _, tc := range []struct{ family, version, want string }{
		{"rhel", "8.8", "Red Hat:enterprise_linux:8"},
		{"centos", "7.9.2009", "Red Hat:enterprise_linux:7"},
		{"sles", "15.3", "SUSE:Linux Enterprise Server 15 SP3"},
		{"opensuse-leap", "15.3", "openSUSE:Leap 15.3"},
		{"rocky", "9.3", "Rocky Linux:9"},
		{"mariner", "2.0", "Mariner:2.0"},
		{"amzn", "2023", "amzn:2023"},
		{"ol", "9.3", "Oracle Linux:9"},
		{"fedora", "39", "fedora:39"},
	} {
		if got := OSEcosystem(&scan.OS{Family: tc.family, Version: tc.version}); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.family, tc.version, got, tc.want)
		}
	}
	res, err := Match(context.Background(), nil, &scan.OS{Family: "amzn", Version: "2023"}, []scan.Package{{Name: "bash", Version: "5.2-1.amzn2023", Type: "rpm"}})
	if err != nil || len(res.Coverage) != 1 || res.Coverage[0].Covered || res.Coverage[0].Note == "" {
		t.Errorf("amzn without data: %+v %v", res, err)
	}
}
