package ruby

import (
	"context"
	"testing"

	"github.com/layerscan/layerscan/shared/analyzer"
)

func TestParsers(t *testing.T) {
	gemspec := "# -*- encoding: utf-8 -*-\n# stub: rack 2.2.3 ruby lib\n\nGem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"2.2.3\"\n  s.required_rubygems_version = Gem::Requirement.new(\">= 0\".freeze)\nend\n"
	lock := "GIT\n  remote: https://x\n  specs:\n    own (0.1.0)\n\nGEM\n  remote: https://rubygems.org/\n  specs:\n    nokogiri (1.13.3-x86_64-linux)\n      racc (~> 1.4)\n    racc (1.6.0)\n    rails (7.0.2.3)\n\nPLATFORMS\n  x86_64-linux\n\nDEPENDENCIES\n  rails (= 7.0.2.3)\n\nBUNDLED WITH\n   2.3.7\n"
	cases := []struct {
		path, body string
		want       []string
		lock       bool
	}{
		{"usr/local/bundle/specifications/rack-2.2.3.gemspec", gemspec, []string{"rack 2.2.3"}, false},
		{"app/Gemfile.lock", lock, []string{"nokogiri 1.13.3", "racc 1.6.0", "rails 7.0.2.3"}, true},
	}
	for _, c := range cases {
		if !(Analyzer{}).Wants(c.path, 0o644) {
			t.Errorf("Wants(%s) = false", c.path)
		}
		arts, err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: c.path, Content: []byte(c.body)})
		if err != nil || len(arts) != 1 || arts[0].Warning != "" {
			t.Fatalf("%s: %+v %v", c.path, arts, err)
		}
		var got []string
		for _, p := range arts[0].Packages {
			got = append(got, p.Name+" "+p.Version)
			if p.Lockfile != c.lock || p.Type != "gem" {
				t.Errorf("%+v", p)
			}
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: got %v, want %v", c.path, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.path, got, c.want)
			}
		}
	}
	if (Analyzer{}).Wants("app/foo.gemspec", 0o644) {
		t.Error("a project's own gemspec is not an installed gem")
	}
}

func FuzzParsers(f *testing.F) {
	f.Add([]byte("s.name = \"a\"\ns.version = \"1\"\n"))
	f.Add([]byte("GEM\n  specs:\n    a (1)\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range []string{"specifications/a.gemspec", "Gemfile.lock"} {
			if _, err := (Analyzer{}).Analyze(context.Background(), analyzer.Input{Path: p, Content: b}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
