package whitelist

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/layerscan/layerscan/shared/store"

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
	l.Apply(fs, Target{Ref: "registry.example/app:1.2@sha256:abc"})
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
	l.Apply(other, Target{Ref: "registry.example/other"})
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
			l.Apply([]scan.Finding{{ID: "X", Path: "/a/b"}}, Target{Ref: "r"})
		}
	})
}

func TestEntriesAndMigration(t *testing.T) {
	st, _ := store.NewFS(t.TempDir())
	ctx := context.Background()
	st.Put(ctx, Key, []byte(`{"rules":[{"id":"CVE-2020-8203","reason":"legacy"},{"id":"LS-SECRET-PRIVATE-KEY","path":"/srv/**"}]}`))
	// Before any migration the legacy document applies.
	l, err := Load(ctx, st)
	if err != nil || len(l.Rules) != 2 {
		t.Fatalf("%v %v", l, err)
	}
	es := &Entries{Store: st}
	got, err := es.List(ctx)
	if err != nil || len(got) != 2 || got[0].Type != Vulnerability || got[1].Type != File || got[1].Category != scan.SensitiveFile {
		t.Fatalf("migrated %+v %v", got, err)
	}
	st.Put(ctx, Key, []byte(`{"rules":[{"id":"CVE-1999-1"}]}`)) // read once: later edits are not
	vuln, err := es.Create(ctx, Entry{Type: Vulnerability, Vulnerabilities: []string{"CVE-2024-1"}, Images: []string{"r.example/app:1.0"}, Note: "n"}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	l, _ = Load(ctx, st)
	if len(l.Rules) != 3 {
		t.Fatalf("rules after create: %+v", l.Rules)
	}
	fs := []scan.Finding{{ID: "CVE-2024-1"}, {ID: "CVE-2024-1"}, {ID: "CVE-1999-1"}}
	l.Apply(fs[:1], Target{Ref: "r.example/app:1.0"})
	l.Apply(fs[1:2], Target{Ref: "r.example/app@sha256:ab", Tag: "2.0", Digest: "sha256:ab"})
	l.Apply(fs[2:], Target{Ref: "r.example/app:1.0"})
	if !fs[0].Whitelisted || fs[1].Whitelisted || fs[2].Whitelisted {
		t.Errorf("image scope: %+v", fs)
	}
	if _, err := es.Update(ctx, vuln.ID, Entry{Type: File, Category: scan.BuildInstruction, AlertID: "LS-BUILD-*", Repositories: []string{"r.example/app"}}); err != nil {
		t.Fatal(err)
	}
	if e, _ := es.Get(ctx, vuln.ID); e.Type != File || e.Created != vuln.Created || e.Updated == "" {
		t.Errorf("updated %+v", e)
	}
	if err := es.Delete(ctx, vuln.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := es.Get(ctx, vuln.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if _, err := es.Get(ctx, "../../x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a hostile ID: %v", err)
	}
}

func TestEntryValidation(t *testing.T) {
	for name, e := range map[string]Entry{
		"no type":           {Vulnerabilities: []string{"CVE-1"}},
		"no ids":            {Type: Vulnerability},
		"file without id":   {Type: File, Category: scan.SensitiveFile},
		"bad category":      {Type: File, Category: "system-vulnerability", AlertID: "X"},
		"two repos":         {Type: File, AlertID: "X", Repositories: []string{"a/b", "a/c"}},
		"image without tag": {Type: Vulnerability, Vulnerabilities: []string{"CVE-1"}, Images: []string{"r/app"}},
		"relative path":     {Type: File, AlertID: "X", Path: "etc/x"},
	} {
		if err := e.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzEntry: a rule from an API body either fails validation or applies.
func FuzzEntry(f *testing.F) {
	f.Add([]byte(`{"type":"file","category":"sensitive-file","alertID":"LS-SECRET-*","path":"/srv/**","repositories":["r/app"]}`))
	f.Add([]byte(`{"type":"vulnerability","vulnerabilities":["CVE-2024-1"],"images":["r/app@sha256:ab","r/app:1"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Entry
		if json.Unmarshal(b, &e) != nil || e.Validate() != nil {
			return
		}
		l := List{Rules: e.Rules()}
		l.Apply([]scan.Finding{{ID: "CVE-2024-1", Path: "/srv/x", Category: scan.SensitiveFile}}, Target{Ref: "r/app:1", Digest: "sha256:ab"})
	})
}
