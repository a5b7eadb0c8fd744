package php

import (
	"context"
	"testing"

	"github.com/layerscan/layerscan/shared/analyzer"
)

func TestParse(t *testing.T) {
	cases := []struct {
		path, body string
		want       []string
		lock       bool
	}{
		{"app/composer.lock", `{"packages":[{"name":"guzzlehttp/guzzle","version":"7.4.1"}],"packages-dev":[{"name":"phpunit/phpunit","version":"9.5.0"}]}`, []string{"guzzlehttp/guzzle 7.4.1", "phpunit/phpunit 9.5.0"}, true},
		{"app/vendor/composer/installed.json", `{"packages":[{"name":"symfony/http-kernel","version":"v5.4.1"},{"name":"x/y","version":""}],"dev":true}`, []string{"symfony/http-kernel 5.4.1"}, false},
		{"app/vendor/composer/installed.json", `[{"name":"monolog/monolog","version":"1.25.0"}]`, []string{"monolog/monolog 1.25.0"}, false},
	}
	for _, c := range cases {
		if !(Analyzer{}).Wants(c.path, 0o644) {
			t.Errorf("Wants(%s) = false", c.path)
		}
		arts, err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: c.path, Content: []byte(c.body)})
		if err != nil || len(arts) != 1 || arts[0].Warning != "" {
			t.Fatalf("%s: %+v %v", c.path, arts, err)
		}
		if len(arts[0].Packages) != len(c.want) {
			t.Fatalf("%s: %+v", c.path, arts[0].Packages)
		}
		for i, p := range arts[0].Packages {
			if p.Name+" "+p.Version != c.want[i] || p.Lockfile != c.lock || p.PURL == "" {
				t.Errorf("%s: %+v, want %s", c.path, p, c.want[i])
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"packages":[{"name":"a/b","version":"1"}]}`))
	f.Add([]byte(`[{"name":"a/b","version":"v1"}]`))
	f.Fuzz(func(t *testing.T, b []byte) { Parse(b, "composer.lock", true) })
}
