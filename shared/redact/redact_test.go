package redact

import (
	"strings"
	"testing"
)

func TestMaskAndClip(t *testing.T) {
	for v, want := range map[string]string{
		"LTAI5tAbCdEfGhIjKlMn": "LTAI****", "s3cret": "s****", "ab": "****", "": "****", "密码密码密码密码密码": "密码密码****",
	} {
		if got := Mask(v); got != want {
			t.Errorf("Mask(%q) = %q, want %q", v, got, want)
		}
		if len(v) > 8 && strings.Contains(Mask(v), v[4:]) {
			t.Errorf("Mask(%q) keeps the secret", v)
		}
	}
	if Clip("héllo world", 5) != "héllo…" || Clip("short", 10) != "short" {
		t.Errorf("Clip: %q", Clip("héllo world", 5))
	}
}
