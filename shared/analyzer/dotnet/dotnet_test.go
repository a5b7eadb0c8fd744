package dotnet

import (
	"context"
	"sort"
	"testing"

	"github.com/layerscan/layerscan/shared/analyzer"
)

func TestParsers(t *testing.T) {
	deps := `{"runtimeTarget":{"name":".NETCoreApp,Version=v6.0"},"libraries":{
		"App/1.0.0":{"type":"project","serviceable":false},
		"Newtonsoft.Json/12.0.1":{"type":"package","serviceable":true},
		"System.Text.Encodings.Web/4.5.0":{"type":"package"}}}`
	lock := `{"version":1,"dependencies":{
		"net6.0":{"Newtonsoft.Json":{"type":"Direct","requested":"[12.0.1, )","resolved":"12.0.1"},"Lib":{"type":"Project"}},
		"net7.0":{"Newtonsoft.Json":{"type":"Direct","resolved":"12.0.1"},"System.Memory":{"type":"Transitive","resolved":"4.5.4"}}}}`
	cases := []struct {
		path, body string
		want       []string
		lock       bool
	}{
		{"app/App.deps.json", deps, []string{"Newtonsoft.Json 12.0.1", "System.Text.Encodings.Web 4.5.0"}, false},
		{"src/packages.lock.json", lock, []string{"Newtonsoft.Json 12.0.1", "System.Memory 4.5.4"}, true},
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
			if p.Lockfile != c.lock || p.Type != "nuget" {
				t.Errorf("%+v", p)
			}
		}
		sort.Strings(got)
		if len(got) != len(c.want) || got[0] != c.want[0] || got[1] != c.want[1] {
			t.Errorf("%s: got %v, want %v", c.path, got, c.want)
		}
	}
}

func FuzzParsers(f *testing.F) {
	f.Add([]byte(`{"libraries":{"a/1":{"type":"package"}}}`))
	f.Add([]byte(`{"dependencies":{"net6.0":{"a":{"resolved":"1"}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseDepsJSON(b, "x.deps.json")
		ParsePackagesLock(b, "packages.lock.json")
	})
}
