package npm

import (
	"context"
	"sort"
	"testing"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

func names(pkgs []scan.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name+"@"+p.Version)
	}
	sort.Strings(out)
	return out
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWants(t *testing.T) {
	cases := map[string]bool{
		"app/node_modules/lodash/package.json":                      true,
		"app/node_modules/@types/node/package.json":                 true,
		"app/node_modules/a/node_modules/b/package.json":            true,
		"app/node_modules/lodash/fp/package.json":                   false,
		"app/package.json":                                          false,
		"app/node_modules/.bin/package.json":                        false,
		"app/package-lock.json":                                     true,
		"app/node_modules/.package-lock.json":                       true,
		"app/node_modules/x/package-lock.json":                      false,
		"app/yarn.lock":                                             true,
		"pnpm-lock.yaml":                                            true,
		"app/node_modules/@scope/name/deep/more/package.json":       false,
		"usr/lib/node_modules/npm/node_modules/semver/package.json": true,
	}
	for p, want := range cases {
		if got := (Analyzer{}).Wants(p, 0o644); got != want {
			t.Errorf("Wants(%s) = %v, want %v", p, got, want)
		}
	}
}

func TestParsers(t *testing.T) {
	cases := []struct {
		name, path, body string
		want             []string
		lock             bool
	}{
		{"installed", "node_modules/lodash/package.json", `{"name":"lodash","version":"4.17.15"}`, []string{"lodash@4.17.15"}, false},
		{"installed without version", "node_modules/x/package.json", `{"name":"x"}`, nil, false},
		{"lock v3", "package-lock.json", `{"lockfileVersion":3,"packages":{
			"":{"name":"app","version":"1.0.0"},
			"node_modules/lodash":{"version":"4.17.15"},
			"node_modules/@scope/a":{"version":"1.0.0"},
			"node_modules/a/node_modules/minimist":{"version":"0.0.8"},
			"node_modules/ws":{"resolved":"packages/ws","link":true},
			"packages/ws":{"name":"ws","version":"0.0.1"}}}`,
			[]string{"@scope/a@1.0.0", "lodash@4.17.15", "minimist@0.0.8", "ws@0.0.1"}, true},
		{"lock v1 nested", "package-lock.json", `{"lockfileVersion":1,"dependencies":{
			"a":{"version":"1.0.0","dependencies":{"b":{"version":"2.0.0"}}},
			"gh":{"version":"github:user/repo#abc"}}}`,
			[]string{"a@1.0.0", "b@2.0.0"}, true},
		{"yarn v1", "yarn.lock", "# yarn lockfile v1\n\n\n\"@babel/code-frame@^7.0.0\", \"@babel/code-frame@^7.10.4\":\n  version \"7.12.13\"\n  resolved \"https://x\"\n  dependencies:\n    \"@babel/highlight\" \"^7.10.4\"\n\nlodash@^4.17.15:\n  version \"4.17.15\"\n",
			[]string{"@babel/code-frame@7.12.13", "lodash@4.17.15"}, true},
		{"yarn berry", "yarn.lock", "__metadata:\n  version: 6\n\n\"lodash@npm:^4.17.15\":\n  version: 4.17.21\n  resolution: \"lodash@npm:4.17.21\"\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n",
			[]string{"lodash@4.17.21"}, true},
		{"pnpm v5", "pnpm-lock.yaml", "lockfileVersion: 5.4\npackages:\n  /lodash/4.17.15:\n    resolution: {integrity: x}\n  /@babel/core/7.0.0_@types+node@1.0.0:\n    dev: true\n",
			[]string{"@babel/core@7.0.0", "lodash@4.17.15"}, true},
		{"pnpm v6", "pnpm-lock.yaml", "lockfileVersion: '6.0'\npackages:\n  /lodash@4.17.15:\n    resolution: {integrity: x}\n  /@babel/core@7.0.0(@types/node@1.0.0):\n    dev: true\n",
			[]string{"@babel/core@7.0.0", "lodash@4.17.15"}, true},
		{"pnpm v9", "pnpm-lock.yaml", "lockfileVersion: '9.0'\npackages:\n  lodash@4.17.15:\n    resolution: {integrity: x}\n  '@scope/x@2.0.0':\n    resolution: {integrity: y}\n",
			[]string{"@scope/x@2.0.0", "lodash@4.17.15"}, true},
	}
	for _, c := range cases {
		arts, err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: c.path, Content: []byte(c.body)})
		if err != nil || len(arts) != 1 {
			t.Fatalf("%s: %v %v", c.name, arts, err)
		}
		if arts[0].Warning != "" {
			t.Errorf("%s: warning %s", c.name, arts[0].Warning)
		}
		if got := names(arts[0].Packages); !same(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		for _, p := range arts[0].Packages {
			if p.Lockfile != c.lock || p.Path != c.path || p.Type != "npm" || p.PURL == "" {
				t.Errorf("%s: %+v", c.name, p)
			}
		}
	}
}

func TestMalformedIsAWarning(t *testing.T) {
	for _, p := range []string{"package-lock.json", "node_modules/x/package.json", "pnpm-lock.yaml", "yarn.lock"} {
		arts, err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: p, Content: []byte("{{{ not: [valid")})
		if err != nil || len(arts) != 1 || arts[0].Warning == "" || arts[0].Error != "" {
			t.Errorf("%s: %+v %v", p, arts, err)
		}
	}
}

func TestScopedPURL(t *testing.T) {
	p := newPackage("@babel/core", "7.0.0", "x", false)
	if p.PURL != "pkg:npm/%40babel/core@7.0.0" {
		t.Errorf("purl %s", p.PURL)
	}
}

func FuzzParsers(f *testing.F) {
	f.Add("package-lock.json", []byte(`{"lockfileVersion":1,"dependencies":{"a":{"version":"1","dependencies":{}}}}`))
	f.Add("yarn.lock", []byte("a@^1:\n  version \"1.0.0\"\n"))
	f.Add("pnpm-lock.yaml", []byte("lockfileVersion: 5\npackages:\n  /a/1.0.0: {}\n"))
	f.Add("node_modules/a/package.json", []byte(`{"name":"a","version":"1"}`))
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		for _, p := range []string{"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "node_modules/a/package.json"} {
			if _, err := (Analyzer{}).Analyze(context.Background(), analyzer.Input{Path: p, Content: b}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
