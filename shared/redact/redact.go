// Package redact is what reports may quote of their input: evidence is
// clipped to a readable length and secret values are masked, so that no
// secret appears whole in any output.
package redact

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Clip shortens s to n runes for display, marking the cut.
func Clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// Mask hides a secret value in any output: a short prefix stays so that a
// reader can tell which key it was, the rest becomes "****".
func Mask(v string) string {
	r := []rune(v)
	keep := 4
	if len(r) <= 8 {
		keep = len(r) / 4
	}
	return string(r[:keep]) + "****"
}

// Printable escapes what a terminal would act on instead of showing:
// control characters (C0 but newline and tab, DEL, C1: ESC sequences that
// move the cursor or erase lines), and the Unicode bidirectional overrides
// that reorder what is shown. Tar entry names and registry answers are
// hostile input and reach tables and logs.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if unprintable(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case unprintable(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unprintable(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unprintable(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
		return true
	}
	return false
}

// Terminal writes through Printable: what it is handed goes to a person.
func Terminal(w io.Writer) io.Writer { return terminal{w} }

type terminal struct{ w io.Writer }

func (t terminal) Write(p []byte) (int, error) {
	s := Printable(string(p))
	if _, err := io.WriteString(t.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
