package python

import (
	"context"
	"sort"
	"testing"

	"github.com/layerscan/layerscan/shared/analyzer"
)

func TestWants(t *testing.T) {
	cases := map[string]bool{
		"usr/lib/python3/dist-packages/requests-2.28.1.egg-info/PKG-INFO": true,
		"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA":     true,
		"usr/lib/python3/dist-packages/foo-1.0.egg-info":                  true,
		"site-packages/x-1.0.egg/EGG-INFO/PKG-INFO":                       true,
		"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/RECORD":       false,
		"app/requirements.txt":                                            true,
		"app/requirements-dev.txt":                                        true,
		"app/requirements/prod.txt":                                       true,
		"app/notes.txt":                                                   false,
		"usr/lib/python3/site-packages/x/requirements.txt":                false,
		"app/poetry.lock":                                                 true,
		"app/Pipfile.lock":                                                true,
		"app/uv.lock":                                                     true,
		"app/METADATA":                                                    false,
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
		{"metadata", "x/PyYAML-6.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0\nSummary: x\n\nName: not-a-header\n", []string{"PyYAML 6.0"}, false},
		{"pkg-info", "x/requests-2.28.1.egg-info/PKG-INFO", "Metadata-Version: 1.2\r\nName: requests\r\nVersion: 2.28.1\r\n", []string{"requests 2.28.1"}, false},
		{"requirements", "requirements.txt", "# pinned\nrequests==2.28.1\nurllib3 == 1.26.12 ; python_version > '3'\nDjango[argon2]===3.2.1\nflask>=2.0\n-r other.txt\n--hash=sha256:x\nnumpy  # unpinned\n", []string{"Django 3.2.1", "requests 2.28.1", "urllib3 1.26.12"}, true},
		{"poetry", "poetry.lock", "[[package]]\nname = \"jinja2\"\nversion = \"3.1.2\"\ndescription = \"x\"\nfiles = [\n    {file = \"a.whl\", hash = \"sha256:1\"},\n]\n\n[package.dependencies]\nname = \"not-a-package\"\nMarkupSafe = \">=2.0\"\n\n[[package]]\nname = \"markupsafe\"\nversion = \"2.1.1\"\n\n[metadata]\nlock-version = \"2.0\"\n", []string{"jinja2 3.1.2", "markupsafe 2.1.1"}, true},
		{"uv project skipped", "uv.lock", "version = 1\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }\n\n[[package]]\nname = \"idna\"\nversion = \"3.6\"\nsource = { registry = \"https://pypi.org/simple\" }\n", []string{"idna 3.6"}, true},
		{"pipfile", "Pipfile.lock", `{"_meta":{},"default":{"requests":{"version":"==2.28.1"},"local":{"path":"."}},"develop":{"pytest":{"version":"==7.0.0"}}}`, []string{"pytest 7.0.0", "requests 2.28.1"}, true},
	}
	for _, c := range cases {
		arts, err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: c.path, Content: []byte(c.body)})
		if err != nil || len(arts) != 1 || arts[0].Warning != "" {
			t.Fatalf("%s: %+v %v", c.name, arts, err)
		}
		var got []string
		for _, p := range arts[0].Packages {
			got = append(got, p.Name+" "+p.Version)
			if p.Lockfile != c.lock || p.Type != "pypi" || p.Path != c.path {
				t.Errorf("%s: %+v", c.name, p)
			}
		}
		sort.Strings(got)
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	}
}

func TestBrokenMetadataIsAWarning(t *testing.T) {
	arts, _ := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: "x.dist-info/METADATA", Content: []byte("garbage")})
	if len(arts) != 1 || arts[0].Warning == "" || len(arts[0].Packages) != 0 {
		t.Errorf("%+v", arts)
	}
}

func FuzzParsers(f *testing.F) {
	f.Add([]byte("Name: a\nVersion: 1\n"))
	f.Add([]byte("[[package]]\nname = \"a\"\nversion = \"1\"\n"))
	f.Add([]byte(`{"default":{"a":{"version":"==1"}}}`))
	f.Add([]byte("a==1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range []string{"a.dist-info/METADATA", "poetry.lock", "Pipfile.lock", "requirements.txt"} {
			if _, err := (Analyzer{}).Analyze(context.Background(), analyzer.Input{Path: p, Content: b}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
