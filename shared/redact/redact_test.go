package redact

import (
	"io"
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

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"usr/bin/ls":               "usr/bin/ls",
		"a\x1b[2K\x1b[1Aevil":      `a\x1b[2K\x1b[1Aevil`,
		"bell\a and \r return":     `bell\x07 and \x0d return`,
		"c1 \u009b31m":             `c1 \x9b31m`,
		"rtl \u202egnp.exe":        `rtl \u202egnp.exe`,
		"tabs\tand\nnewlines stay": "tabs\tand\nnewlines stay",
		"密码 stays":                 "密码 stays",
		string([]byte{0xff, 'x'}):  `\ufffdx`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	var b strings.Builder
	io.WriteString(Terminal(&b), "row \x1b[31mred")
	if b.String() != `row \x1b[31mred` {
		t.Errorf("Terminal wrote %q", b.String())
	}
}
