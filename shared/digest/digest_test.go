package digest

import (
	"strings"
	"testing"
)

func TestValidAndShort(t *testing.T) {
	good := "sha256:" + strings.Repeat("ab", 32)
	for d, want := range map[string]bool{
		good: true, "sha256:" + strings.Repeat("AB", 32): false, "sha512:" + strings.Repeat("ab", 32): false,
		good[:70]: false, good + "0": false, "sha256:../" + strings.Repeat("a", 61): false, "": false,
	} {
		if Valid(d) != want {
			t.Errorf("Valid(%q) = %v", d, !want)
		}
	}
	if Short(good) != "abababababab" || Short("abc") != "abc" {
		t.Errorf("Short: %q %q", Short(good), Short("abc"))
	}
}
