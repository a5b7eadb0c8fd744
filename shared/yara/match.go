package yara

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/layerscan/layerscan/shared/keyword"
)

// matcher finds one string in file content. Text and hex strings are
// matched on raw bytes by our own code (Go's regexp reads UTF-8 and cannot
// express a raw byte ≥ 0x80); regexes are for text.
type matcher struct {
	text     []byte // text strings, already widened for "wide"
	nocase   bool
	fullword bool
	hex      []hexElem
	re       *regexp.Regexp
	// atom is a literal every match contains (≥ 4 bytes), folded when
	// nocase; nil when the string has none and must always be tried.
	atom     []byte
	atomFold bool
}

// hexElem is one element of a hex string: a byte under a mask, a jump, or
// alternatives of byte sequences.
type hexElem struct {
	val, mask byte
	jumpMin   int
	jumpMax   int // -1: not a jump
	alts      [][]hexElem
}

// maxJump bounds [n-m] jumps so that a hostile rule cannot make matching
// quadratic over a large file.
const maxJump = 4096

func compileString(s *String) error {
	m := &s.m
	switch s.Kind {
	case TextString:
		if s.Text == "" {
			return fmt.Errorf("empty string")
		}
		t := []byte(s.Text)
		if s.Wide {
			w := make([]byte, 0, 2*len(t))
			for _, c := range t {
				w = append(w, c, 0)
			}
			t = w
		}
		m.text, m.nocase, m.fullword = t, s.Nocase, s.Fullword
		if keyword.Indexable(t) {
			m.atom, m.atomFold = t, s.Nocase
		}
	case HexString:
		els, err := parseHex(s.Text, 0)
		if err != nil {
			return err
		}
		if len(els) == 0 {
			return fmt.Errorf("empty hex string")
		}
		m.hex = els
		// The atom is the longest run of fixed bytes at a fixed offset from
		// the start: before any jump or alternative.
		var run []byte
		for _, e := range els {
			if e.jumpMax != -1 || e.alts != nil || e.mask != 0xff {
				break
			}
			run = append(run, e.val)
		}
		if keyword.Indexable(run) {
			m.atom = run
		}
	case RegexString:
		flags := ""
		if s.RegexNocase || s.Nocase {
			flags += "i"
		}
		if s.RegexDotAll {
			flags += "s"
		}
		src := s.Text
		if flags != "" {
			src = "(?" + flags + ")" + src
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return fmt.Errorf("regex: %w", err)
		}
		m.re = re
		if p, _ := re.LiteralPrefix(); keyword.Indexable([]byte(p)) && (flags == "" || flags == "s") {
			m.atom = []byte(p)
		}
	}
	return nil
}

// parseHex reads "4D 5A ?? 9? [2-4] ( 00 | FF FF )".
func parseHex(src string, depth int) ([]hexElem, error) {
	if depth > 1 {
		return nil, fmt.Errorf("nested alternatives are not supported")
	}
	var out []hexElem
	s := strings.Join(strings.Fields(src), "")
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated jump")
			}
			lo, hi, err := parseJump(s[i+1 : i+end])
			if err != nil {
				return nil, err
			}
			out = append(out, hexElem{jumpMin: lo, jumpMax: hi})
			i += end + 1
		case c == '(':
			end, level := -1, 0
			for j := i; j < len(s); j++ {
				if s[j] == '(' {
					level++
				} else if s[j] == ')' {
					level--
					if level == 0 {
						end = j
						break
					}
				}
			}
			if end < 0 {
				return nil, fmt.Errorf("unterminated alternative")
			}
			e := hexElem{jumpMax: -1}
			for _, alt := range splitTop(s[i+1 : end]) {
				els, err := parseHex(alt, depth+1)
				if err != nil {
					return nil, err
				}
				for _, x := range els {
					if x.jumpMax != -1 {
						return nil, fmt.Errorf("jumps inside alternatives are not supported")
					}
				}
				e.alts = append(e.alts, els)
			}
			out = append(out, e)
			i = end + 1
		default:
			if i+2 > len(s) {
				return nil, fmt.Errorf("odd number of hex digits")
			}
			var v, mask byte
			for k := 0; k < 2; k++ {
				d := s[i+k]
				v <<= 4
				mask <<= 4
				if d == '?' {
					continue
				}
				n, err := strconv.ParseUint(string(d), 16, 8)
				if err != nil {
					return nil, fmt.Errorf("bad hex digit %q", d)
				}
				v |= byte(n)
				mask |= 0xf
			}
			out = append(out, hexElem{val: v, mask: mask, jumpMax: -1})
			i += 2
		}
	}
	if len(out) > 0 && (out[0].jumpMax != -1 || out[len(out)-1].jumpMax != -1) {
		return nil, fmt.Errorf("a hex string cannot start or end with a jump")
	}
	return out, nil
}

func splitTop(s string) []string {
	var out []string
	level, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			level++
		case ')':
			level--
		case '|':
			if level == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseJump(s string) (int, int, error) {
	lo, hi, ranged := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 0 {
		return 0, 0, fmt.Errorf("bad jump [%s]", s)
	}
	b := a
	if ranged {
		if b, err = strconv.Atoi(hi); err != nil || b < a {
			return 0, 0, fmt.Errorf("bad jump [%s] (open jumps are not supported)", s)
		}
	}
	if b > maxJump {
		return 0, 0, fmt.Errorf("jump [%s] longer than %d", s, maxJump)
	}
	return a, b, nil
}

// maxCount bounds how many matches of one string are counted.
const maxCount = 1000

// count returns how many times the string matches b, up to limit.
func (m *matcher) count(b []byte, limit int) int {
	n := 0
	switch {
	case m.re != nil:
		return len(m.re.FindAllIndex(b, limit))
	case m.hex != nil:
		for i := 0; i < len(b) && n < limit; i++ {
			if m.atom != nil {
				j := bytes.Index(b[i:], m.atom)
				if j < 0 {
					break
				}
				i += j
			} else if m.hex[0].alts == nil && m.hex[0].mask == 0xff {
				j := bytes.IndexByte(b[i:], m.hex[0].val)
				if j < 0 {
					break
				}
				i += j
			}
			budget := maxHexSteps
			if hexAt(m.hex, b, i, &budget) {
				n++
			}
		}
	default:
		for i := 0; i < len(b) && n < limit; {
			j := indexAt(b, i, m.text, m.nocase)
			if j < 0 {
				break
			}
			if !m.fullword || wordBoundary(b, j, j+len(m.text)) {
				n++
			}
			i = j + 1
		}
	}
	return n
}

func wordBoundary(b []byte, start, end int) bool {
	isWord := func(c byte) bool { return isIdent(c) }
	return (start == 0 || !isWord(b[start-1])) && (end >= len(b) || !isWord(b[end]))
}

// indexAt finds t in b at or after from, folding ASCII case when asked.
func indexAt(b []byte, from int, t []byte, nocase bool) int {
	if !nocase {
		j := bytes.Index(b[from:], t)
		if j < 0 {
			return -1
		}
		return from + j
	}
	first := keyword.FoldTable[t[0]]
	upper := first
	if first >= 'a' && first <= 'z' {
		upper = first - 32
	}
	for i := from; i+len(t) <= len(b); i++ {
		// jump to the next byte that can start a match
		j := bytes.IndexByte(b[i:], first)
		if upper != first {
			if k := bytes.IndexByte(b[i:], upper); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 {
			return -1
		}
		i += j
		if i+len(t) > len(b) {
			return -1
		}
		if keyword.Equal(b[i:i+len(t)], t, true) {
			return i
		}
	}
	return -1
}

// maxHexSteps bounds the backtracking of one hex match attempt: several
// wide jumps in a row would otherwise multiply.
const maxHexSteps = 100000

// hexAt matches elements els at b[pos:], backtracking over jumps.
func hexAt(els []hexElem, b []byte, pos int, budget *int) bool {
	for k, e := range els {
		if *budget--; *budget < 0 {
			return false
		}
		switch {
		case e.jumpMax != -1:
			for j := e.jumpMin; j <= e.jumpMax && pos+j <= len(b); j++ {
				if hexAt(els[k+1:], b, pos+j, budget) {
					return true
				}
			}
			return false
		case e.alts != nil:
			for _, alt := range e.alts {
				if pos+len(alt) <= len(b) && hexAt(alt, b, pos, budget) && hexAt(els[k+1:], b, pos+len(alt), budget) {
					return true
				}
			}
			return false
		default:
			if pos >= len(b) || b[pos]&e.mask != e.val&e.mask {
				return false
			}
			pos++
		}
	}
	return true
}

// Atom returns a literal every match of s contains (folded when nocase is
// true), for a prefilter; nil when s has none and must always be tried.
func (s *String) Atom() (atom []byte, nocase bool) { return s.m.atom, s.m.atomFold }

// Matches reports whether s occurs in b.
func (s *String) Matches(b []byte) bool { return s.m.count(b, 1) > 0 }

// NeedsAnchor is true when r cannot match unless one of its strings with
// an atom does: such a rule is skipped for files where none of its atoms
// occur, which is what makes scanning every file affordable.
func NeedsAnchor(r *Rule) bool { return needsAnchored(r, r.Cond) }

// Eval evaluates r over a file's content. absent, when not nil, names the
// strings a prefilter proved absent (their atom does not occur in b); they
// are not searched.
func Eval(r *Rule, b []byte, absent func(*String) bool) bool {
	st := &scanState{b: b, absent: absent, counts: map[*String]int{}}
	return st.eval(r, r.Cond) != 0
}

// scanState is what one file gave for one rule.
type scanState struct {
	b      []byte
	absent func(*String) bool
	counts map[*String]int
}

func (st *scanState) matches(s *String) int {
	if c, ok := st.counts[s]; ok {
		return c
	}
	c := 0
	if s.m.atom == nil || st.absent == nil || !st.absent(s) {
		c = s.m.count(st.b, maxCount)
	}
	st.counts[s] = c
	return c
}

func (st *scanState) eval(r *Rule, e Expr) int64 {
	switch e.Op {
	case OpAnd:
		if st.eval(r, e.Args[0]) == 0 {
			return 0
		}
		return b2i(st.eval(r, e.Args[1]) != 0)
	case OpOr:
		if st.eval(r, e.Args[0]) != 0 {
			return 1
		}
		return b2i(st.eval(r, e.Args[1]) != 0)
	case OpNot:
		return b2i(st.eval(r, e.Args[0]) == 0)
	case OpBool, OpInt:
		return e.Int
	case OpFilesize:
		return int64(len(st.b))
	case OpStr:
		s := stringOf(r, e.Str)
		return b2i(st.matches(s) > 0)
	case OpCount:
		s := stringOf(r, e.Str)
		return int64(st.matches(s))
	case OpUint:
		if e.Int < 0 || e.Int+int64(e.Width) > int64(len(st.b)) {
			return -1 // out of range: compares unequal to every byte value
		}
		p := st.b[e.Int:]
		var bo binary.ByteOrder = binary.LittleEndian
		if e.BigEndian {
			bo = binary.BigEndian
		}
		switch e.Width {
		case 1:
			return int64(p[0])
		case 2:
			return int64(bo.Uint16(p))
		default:
			return int64(bo.Uint32(p))
		}
	case OpCmp:
		a, b := st.eval(r, e.Args[0]), st.eval(r, e.Args[1])
		switch e.Cmp {
		case "<":
			return b2i(a < b)
		case "<=":
			return b2i(a <= b)
		case ">":
			return b2i(a > b)
		case ">=":
			return b2i(a >= b)
		case "==":
			return b2i(a == b)
		default:
			return b2i(a != b)
		}
	case OpOf:
		set := setOf(r, e.Set)
		n := 0
		for _, s := range set {
			if st.matches(s) > 0 {
				n++
			}
		}
		switch e.Quant {
		case "any":
			return b2i(n > 0)
		case "all":
			return b2i(n == len(set))
		case "none":
			return b2i(n == 0)
		default:
			q, _ := strconv.Atoi(e.Quant)
			return b2i(n >= q)
		}
	}
	return 0
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func stringOf(r *Rule, v string) *String {
	for _, s := range r.Strings {
		if s.Var == v {
			return s
		}
	}
	return nil
}

func setOf(r *Rule, vars []string) []*String {
	if len(vars) == 0 {
		return r.Strings
	}
	var out []*String
	for _, s := range r.Strings {
		for _, v := range vars {
			if s.Var == v || strings.HasSuffix(v, "*") && strings.HasPrefix(s.Var, strings.TrimSuffix(v, "*")) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// needsAnchored is true when the condition cannot hold unless a string
// with an atom matches: such a rule is skipped for files where none of its
// atoms occur, which is what makes scanning every file affordable.
func needsAnchored(r *Rule, e Expr) bool {
	anchored := func(s *String) bool { return s != nil && s.m.atom != nil }
	switch e.Op {
	case OpAnd:
		return needsAnchored(r, e.Args[0]) || needsAnchored(r, e.Args[1])
	case OpOr:
		return needsAnchored(r, e.Args[0]) && needsAnchored(r, e.Args[1])
	case OpStr:
		return anchored(stringOf(r, e.Str))
	case OpOf:
		if e.Quant == "none" || e.Quant == "0" {
			return false
		}
		for _, s := range setOf(r, e.Set) {
			if !anchored(s) {
				return false
			}
		}
		return true
	case OpCmp:
		// #a > 0, #a >= N with N ≥ 1
		if e.Args[0].Op == OpCount && e.Args[1].Op == OpInt && anchored(stringOf(r, e.Args[0].Str)) {
			n := e.Args[1].Int
			return e.Cmp == ">" && n >= 0 || e.Cmp == ">=" && n >= 1 || e.Cmp == "==" && n >= 1
		}
	}
	return false
}
