// Package digest checks and shortens the content digests that name layers,
// images and reports.
package digest

import "strings"

// Short is the first 12 hex digits of a digest, for progress lines and
// evidence.
func Short(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// Valid is true for "sha256:" and 64 lower-case hex digits, the only
// digest form layerscan accepts from outside.
func Valid(d string) bool {
	return len(d) == 71 && strings.HasPrefix(d, "sha256:") && strings.Trim(d[7:], "0123456789abcdef") == ""
}
