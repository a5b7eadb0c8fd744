package match

import (
	"context"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/advisory"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
)

// appDB publishes a small DB of OSV records written the way each feed does.
func appDB(t *testing.T) *advisory.DB {
	t.Helper()
	b := advisory.NewBuilder()
	for _, rec := range []string{
		`{"id":"GO-2099-0001","summary":"net/http: bad thing","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.21.9"},{"introduced":"1.22.0-0"},{"fixed":"1.22.2"}]}]}]}`,
		`{"id":"PYSEC-2099-1","aliases":["CVE-2099-1","GHSA-aaaa-bbbb-cccc"],"affected":[{"package":{"ecosystem":"PyPI","name":"pyyaml"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"5.4"}]}]}]}`,
		`{"id":"GHSA-aaaa-bbbb-cccc","aliases":["CVE-2099-1"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"PyPI","name":"PyYAML"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"5.4"}]}]}]}`,
		`{"id":"MAL-2099-7","affected":[{"package":{"ecosystem":"npm","name":"evil-pkg"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
		`{"id":"GHSA-nuget-0001","affected":[{"package":{"ecosystem":"NuGet","name":"Newtonsoft.Json"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"13.0.1"}]}]}]}`,
	} {
		if err := b.AddOSV([]byte(rec), false); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := advisory.Publish(ctx, st, b, "2026-01-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	db, err := advisory.Current(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestApplicationMatching(t *testing.T) {
	db := appDB(t)
	pkgs := []scan.Package{
		{Name: "stdlib", Version: "1.22.1", Type: "golang", Path: "usr/bin/a"},
		{Name: "stdlib", Version: "1.22.2", Type: "golang", Path: "usr/bin/b"},
		{Name: "PyYAML", Version: "5.3.1", Type: "pypi", Path: "x/PyYAML-5.3.1.dist-info/METADATA"},
		{Name: "evil-pkg", Version: "1.0.0", Type: "npm", Path: "node_modules/evil-pkg/package.json"},
		{Name: "newtonsoft.json", Version: "12.0.1", Type: "nuget", Path: "app/App.deps.json"},
		{Name: "unknown-maven", Version: "1", Type: "maven", Path: "x.jar"},
	}
	res, err := Match(context.Background(), db, nil, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]scan.Finding{}
	for _, f := range res.Findings {
		got[f.Path+" "+f.ID] = f
	}
	if len(got) != 4 {
		t.Errorf("%d findings: %v", len(got), got)
	}
	if f := got["usr/bin/a GO-2099-0001"]; f.FixedVersion != "1.22.2" || !strings.Contains(f.Remediation, "Go 1.22.2") {
		t.Errorf("stdlib: %+v", f)
	}
	// PEP 503 names, and aliases merged into one finding with the highest severity.
	f := got["x/PyYAML-5.3.1.dist-info/METADATA PYSEC-2099-1"]
	if f.ID == "" {
		f = got["x/PyYAML-5.3.1.dist-info/METADATA GHSA-aaaa-bbbb-cccc"]
	}
	if f.Severity != scan.Critical || f.FixedVersion != "5.4" || len(f.Aliases) != 2 {
		t.Errorf("PyYAML: %+v (all %v)", f, got)
	}
	if f := got["node_modules/evil-pkg/package.json MAL-2099-7"]; f.Category != scan.MaliciousSample || f.Severity != scan.Critical || f.Status != "" || !strings.Contains(f.Remediation, "Remove evil-pkg") {
		t.Errorf("MAL: %+v", f)
	}
	if f := got["app/App.deps.json GHSA-nuget-0001"]; f.FixedVersion != "13.0.1" {
		t.Errorf("NuGet names are case-insensitive: %+v", f)
	}
	// Maven has no data here: said so, not silently clean.
	for _, c := range res.Coverage {
		if c.Ecosystem == "Maven" && (c.Covered || !strings.Contains(c.Note, "not checked")) {
			t.Errorf("coverage %+v", c)
		}
	}
}
