// Package redact is what reports may quote of their input: evidence is
// clipped to a readable length and secret values are masked, so that no
// secret appears whole in any output.
package redact

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
