package npm

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/layerscan/layerscan/shared/scan"
)

// ParseYarnLock reads yarn.lock, classic (v1: `version "1.2.3"`) and berry
// (`version: 1.2.3`, YAML-like). Entries start at column 0 with their
// comma-separated specifiers; the first specifier names the package.
func ParseYarnLock(b []byte, file string) ([]scan.Package, error) {
	var pkgs []scan.Package
	name, version, resolution := "", "", ""
	flush := func() {
		if name != "" && version != "" && version != "0.0.0-use.local" &&
			!strings.Contains(resolution, "@workspace:") && !strings.Contains(resolution, "@link:") && !strings.Contains(resolution, "@portal:") {
			pkgs = append(pkgs, newPackage(name, version, file, true))
		}
		name, version, resolution = "", "", ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line[0] != ' ' {
			flush()
			if !strings.HasSuffix(line, ":") {
				return pkgs, fmt.Errorf("yarn.lock: unexpected line %q", line)
			}
			spec, _, _ := strings.Cut(strings.TrimSuffix(line, ":"), ",")
			name = specName(strings.Trim(strings.TrimSpace(spec), `"`))
			continue
		}
		if strings.HasPrefix(line, "    ") {
			continue // dependency lists and other nested maps
		}
		k, v := yarnField(strings.TrimSpace(line))
		switch k {
		case "version":
			version = v
		case "resolution":
			resolution = v
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return pkgs, fmt.Errorf("yarn.lock: %w", err)
	}
	return pkgs, nil
}

// specName cuts the range off a specifier: "@scope/pkg@^1" → "@scope/pkg".
func specName(spec string) string {
	if spec == "__metadata" {
		return ""
	}
	if i := strings.LastIndex(spec, "@"); i > 0 {
		return spec[:i]
	}
	return spec
}

// yarnField splits `version "1.2.3"` (v1) and `version: 1.2.3` (berry).
func yarnField(s string) (string, string) {
	k, v, ok := strings.Cut(s, " ")
	if !ok {
		return "", ""
	}
	return strings.TrimSuffix(k, ":"), strings.Trim(strings.TrimSpace(v), `"`)
}

// ParsePnpmLock reads pnpm-lock.yaml. Package keys changed shape across
// lockfile versions: "/name/1.2.3_peer" (v5), "/name@1.2.3(peer)" (v6),
// "name@1.2.3" (v9).
func ParsePnpmLock(b []byte, file string) ([]scan.Package, error) {
	var l struct {
		LockfileVersion string `yaml:"lockfileVersion"`
		Packages        map[string]struct {
			Name    string `yaml:"name"`
			Version string `yaml:"version"`
		} `yaml:"packages"`
	}
	if err := yaml.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("pnpm-lock.yaml: %w", err)
	}
	v5 := strings.HasPrefix(l.LockfileVersion, "5") || strings.HasPrefix(l.LockfileVersion, "4") || strings.HasPrefix(l.LockfileVersion, "3")
	var pkgs []scan.Package
	for key, p := range l.Packages {
		name, version := pnpmKey(key, v5)
		if p.Name != "" && p.Version != "" {
			name, version = p.Name, p.Version
		}
		if name == "" || version == "" || strings.ContainsAny(version, ":/") {
			continue
		}
		pkgs = append(pkgs, newPackage(name, version, file, true))
	}
	return pkgs, nil
}

func pnpmKey(key string, v5 bool) (string, string) {
	key = strings.TrimPrefix(key, "/")
	if !v5 {
		if i := strings.IndexByte(key, '('); i > 0 {
			key = key[:i]
		}
		if i := strings.LastIndex(key, "@"); i > 0 {
			return key[:i], key[i+1:]
		}
		return "", ""
	}
	// v5: the version is the last path element, peers after "_" (their
	// scoped names use "+", so the last "/" is the version's).
	i := strings.LastIndex(key, "/")
	if i <= 0 {
		return "", ""
	}
	version, _, _ := strings.Cut(key[i+1:], "_")
	return key[:i], version
}
