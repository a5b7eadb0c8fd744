package whitelist

import (
	"testing"

	"github.com/layerscan/layerscan/shared/scan"
)

func TestApply(t *testing.T) {
	l, err := Parse([]byte(`{"rules":[
		{"id":"LS-BASELINE-SUID","path":"/usr/local/bin/*","reason":"vendor helper"},
		{"id":"CVE-2020-8203","repository":"registry.example/app"},
		{"id":"LS-BUILD-*","path":"/srv/**"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	fs := []scan.Finding{
		{ID: "LS-BASELINE-SUID", Path: "/usr/local/bin/helper"},
		{ID: "LS-BASELINE-SUID", Path: "/usr/local/sbin/helper"},
		{ID: "GHSA-p6mc-m468-83gw", Aliases: []string{"CVE-2020-8203"}, Path: "/app/node_modules/lodash/package.json"},
		{ID: "LS-BUILD-ADD", Path: "/srv/x"},
		{ID: "LS-BUILD-ADD", Path: "/srv"},
		{ID: "LS-BUILD-ADD"},
	}
	l.Apply(fs, Repository("registry.example/app:1.2@sha256:abc"))
	want := []bool{true, false, true, true, true, false}
	for i, w := range want {
		if fs[i].Whitelisted != w {
			t.Errorf("%d %s %s: whitelisted %v, want %v", i, fs[i].ID, fs[i].Path, fs[i].Whitelisted, w)
		}
	}
	if fs[0].WhitelistReason != "vendor helper" || fs[2].WhitelistReason == "" {
		t.Errorf("reasons %q %q", fs[0].WhitelistReason, fs[2].WhitelistReason)
	}
	other := []scan.Finding{{ID: "GHSA-p6mc-m468-83gw", Aliases: []string{"CVE-2020-8203"}}}
	l.Apply(other, "registry.example/other")
	if other[0].Whitelisted {
		t.Error("a repository-scoped rule applied to another repository")
	}
}

func TestParseErrors(t *testing.T) {
	for _, doc := range []string{`{"rules":[{"path":"/x"}]}`, `{"rules":[{"id":"X","path":"relative"}]}`, `{"rules":[{"id":"X","path":"/["}]}`, `{"rulez":[]}`, `nope`} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("accepted %s", doc)
		}
	}
}

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{
		"registry.example:5000/team/app:1.0": "registry.example:5000/team/app",
		"app@sha256:abc":                     "app",
		"localhost:5000/app":                 "localhost:5000/app",
	} {
		if got := Repository(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"rules":[{"id":"X*","path":"/a/**"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err == nil {
			l.Apply([]scan.Finding{{ID: "X", Path: "/a/b"}}, "r")
		}
	})
}
