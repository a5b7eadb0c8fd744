package squash

import (
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/scan"
)

func dpkgDB(path string, names ...string) scan.Artifact {
	a := scan.Artifact{Path: path, Kind: "dpkg"}
	for _, n := range names {
		a.Packages = append(a.Packages, scan.Package{Name: n, Version: "1", Type: "deb"})
	}
	return a
}

func TestSquash(t *testing.T) {
	cases := []struct {
		name   string
		layers []*scan.LayerFacts
		// want maps each final package to the diffID that introduced it
		want map[string]string
	}{
		{
			name: "an upper database replaces the lower; kept packages keep their layer",
			layers: []*scan.LayerFacts{
				{DiffID: "L0", Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status", "libc6", "bash")}},
				{DiffID: "L1", Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status", "libc6", "bash", "curl")}},
				{DiffID: "L2", Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status", "libc6", "curl")}},
			},
			want: map[string]string{"libc6": "L0", "curl": "L1"},
		},
		{
			name: "a whiteout deletes a database file",
			layers: []*scan.LayerFacts{
				{DiffID: "L0", Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status", "libc6"), dpkgDB("var/lib/dpkg/status.d/app", "app")}},
				{DiffID: "L1", Whiteouts: []string{"var/lib/dpkg/status.d/app"}},
			},
			want: map[string]string{"libc6": "L0"},
		},
		{
			name: "a whiteout of a directory deletes what is under it, not its prefix siblings",
			layers: []*scan.LayerFacts{
				{DiffID: "L0", Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status.d/a", "a"), dpkgDB("var/lib/dpkg/status.dx", "x")}},
				{DiffID: "L1", Whiteouts: []string{"var/lib/dpkg/status.d"}},
			},
			want: map[string]string{"x": "L0"},
		},
		{
			name: "an opaque dir hides lower content but keeps its own layer's",
			layers: []*scan.LayerFacts{
				{DiffID: "L0", Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status.d/old", "old")}},
				{DiffID: "L1", OpaqueDirs: []string{"var/lib/dpkg/status.d"}, Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status.d/new", "new")}},
			},
			want: map[string]string{"new": "L1"},
		},
		{
			name: "a package removed and installed again is attributed to the reinstalling layer",
			layers: []*scan.LayerFacts{
				{DiffID: "L0", Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status", "libc6", "vim")}},
				{DiffID: "L1", Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status", "libc6")}},
				{DiffID: "L2", Artifacts: []scan.Artifact{dpkgDB("var/lib/dpkg/status", "libc6", "vim")}},
			},
			want: map[string]string{"libc6": "L0", "vim": "L2"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := Squash(c.layers)
			got := map[string]string{}
			for _, p := range img.Packages {
				got[p.Name] = p.LayerDiffID
			}
			if len(got) != len(c.want) {
				t.Errorf("packages %v, want %v", got, c.want)
			}
			for n, l := range c.want {
				if got[n] != l {
					t.Errorf("%s: layer %q, want %q", n, got[n], l)
				}
			}
		})
	}
}

func TestSquashKeepsDeletedLayerFindings(t *testing.T) {
	img := Squash([]*scan.LayerFacts{
		{DiffID: "L0", Findings: []scan.Finding{{ID: "secret", Path: "tmp/key"}}},
		{DiffID: "L1", Whiteouts: []string{"tmp/key"}},
	})
	if len(img.LayerFindings) != 1 || img.LayerFindings[0].LayerDiffID != "L0" {
		t.Errorf("a finding in a deleted file must stay, with its layer: %+v", img.LayerFindings)
	}
}

func npmArt(path string, lock bool, nameVersions ...string) scan.Artifact {
	a := scan.Artifact{Path: path, Kind: "npm"}
	for i := 0; i < len(nameVersions); i += 2 {
		a.Packages = append(a.Packages, scan.Package{Name: nameVersions[i], Version: nameVersions[i+1], Type: "npm", Path: path, Lockfile: lock})
	}
	return a
}

func TestLockfilePackagesShadowedByInstalledOnes(t *testing.T) {
	img := Squash([]*scan.LayerFacts{{DiffID: "L0", Artifacts: []scan.Artifact{
		npmArt("app/package-lock.json", true, "lodash", "4.17.15", "devonly", "1.0.0"),
		npmArt("app/node_modules/.package-lock.json", true, "lodash", "4.17.15", "devonly", "1.0.0"),
		npmArt("app/node_modules/lodash/package.json", false, "lodash", "4.17.15"),
		// another project with the same package: its own instance
		npmArt("srv/node_modules/lodash/package.json", false, "lodash", "4.17.15"),
		// a lockfile whose version differs from what is installed stays
		npmArt("web/package-lock.json", true, "lodash", "4.17.21"),
		npmArt("web/node_modules/lodash/package.json", false, "lodash", "4.17.15"),
		// "two" Go binaries with the same module and a Rust reading of one of them
		{Path: "usr/bin/a", Kind: "gobinary", Packages: []scan.Package{{Name: "golang.org/x/text", Version: "v0.3.5", Type: "golang", Path: "usr/bin/a"}}},
		{Path: "usr/bin/a", Kind: "cargo"},
	}}})
	got := map[string]int{}
	for _, p := range img.Packages {
		got[p.Path+" "+p.Name+"@"+p.Version]++
	}
	want := map[string]int{
		"app/node_modules/lodash/package.json lodash@4.17.15": 1,
		"srv/node_modules/lodash/package.json lodash@4.17.15": 1,
		"app/node_modules/.package-lock.json devonly@1.0.0":   1, // first lockfile of the project by path
		"web/package-lock.json lodash@4.17.21":                1,
		"web/node_modules/lodash/package.json lodash@4.17.15": 1,
		"usr/bin/a golang.org/x/text@v0.3.5":                  1,
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

func TestLanguagePackagesOwnedByOSPackagesAreLeftToTheOS(t *testing.T) {
	egg := "usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO"
	free := "usr/local/lib/python3.11/dist-packages/requests-2.28.1.egg-info/PKG-INFO"
	img := Squash([]*scan.LayerFacts{{DiffID: "L0", Artifacts: []scan.Artifact{
		dpkgDB("var/lib/dpkg/status", "python3-urllib3", "docker.io"),
		{Path: "var/lib/dpkg/info/python3-urllib3.list", Kind: "dpkg", Files: []string{"usr", "usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO"}},
		// merged /usr: the database says bin/, the layer holds usr/bin/
		{Path: "var/lib/dpkg/info/docker.io.list", Kind: "dpkg", Files: []string{"bin/dockerd"}},
		{Path: egg, Kind: "python", Packages: []scan.Package{{Name: "urllib3", Version: "1.26.12", Type: "pypi", Path: egg}}},
		{Path: free, Kind: "python", Packages: []scan.Package{{Name: "requests", Version: "2.28.1", Type: "pypi", Path: free}}},
		{Path: "usr/bin/dockerd", Kind: "gobinary", Packages: []scan.Package{{Name: "stdlib", Version: "1.19.8", Type: "golang", Path: "usr/bin/dockerd"}}},
	}}})
	var got []string
	for _, p := range img.Packages {
		got = append(got, p.Type+" "+p.Name)
	}
	if strings.Join(got, ",") != "pypi requests,deb python3-urllib3,deb docker.io" || img.OSOwned != 2 {
		t.Errorf("got %v, %d dropped", got, img.OSOwned)
	}
}
