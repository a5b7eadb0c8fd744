package yara

import (
	"strings"
	"testing"
)

// matching names the public rules of rs that match b.
func matching(rs []*Rule, b []byte) string {
	var out []string
	for _, r := range rs {
		if !r.Private && Eval(r, b, nil) {
			out = append(out, r.Name)
		}
	}
	return strings.Join(out, ",")
}

func TestLanguage(t *testing.T) {
	rules := `
// comment
rule Text { strings: $a = "Hello" condition: $a }
rule NoCase { strings: $a = "hello world" nocase condition: $a }
rule Wide { strings: $a = "Evil" wide condition: $a }
rule Word { strings: $a = "root" fullword condition: $a }
rule Hex { strings: $a = { 4D 5A ?? 0? [1-3] FF ( 01 02 | 03 ) } condition: $a }
rule Re { strings: $a = /pass(word)?=[0-9]{4}/ condition: $a }
rule Two { strings: $a = "alpha" $b = "beta" $c = "gamma" condition: 2 of them }
rule All { strings: $x1 = "alpha" $x2 = "beta" condition: all of ($x*) }
rule Count { strings: $a = "abab" condition: #a >= 2 }
rule Magic { condition: uint16(0) == 0x5A4D and filesize < 1KB }
rule BigEndian { condition: uint32be(0) == 0x7F454C46 }
rule Not { strings: $a = "safe-marker" condition: not $a and filesize == 3 }
private rule Hidden { strings: $a = "Hello" condition: $a }
/* block
   comment */
rule Precedence : t1 t2 { meta: author = "x" n = 3 neg = -1 flag = true strings: $a = "aaaa" $b = "bbbb" $c = "cccc" condition: $a or $b and $c }
`
	rs, err := ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ in, want string }{
		{"say Hello", "Text"},
		{"HeLLo WoRLD", "NoCase"},
		{"E\x00v\x00i\x00l\x00", "Wide"},
		{"user root:", "Word"},
		{"groot", ""},
		{"MZ\x00\x05\x00\x00\xff\x03", "Hex,Magic"},
		{"MZ\x00\x05\x00\xff\x01\x02", "Hex,Magic"},
		{"MZ\x00\x05\xff\x01\x02", "Magic"}, // the jump needs at least one byte
		{"MZ\x00\x15\x00\xff\x01\x02", "Magic"},
		{"password=1234", "Re"},
		{"alpha gamma", "Two"},
		{"alpha beta", "Two,All"},
		{"ababab abab", "Count"},
		{"\x7fELF", "BigEndian"},
		{"xyz", "Not"},
		{"aaaa", "Precedence"},
		{"bbbb", ""},
		{"bbbb cccc", "Precedence"},
	}
	for _, c := range cases {
		if got := matching(rs, []byte(c.in)); got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
	last := rs[len(rs)-1]
	if strings.Join(last.Tags, " ") != "t1 t2" || last.Meta["author"] != "x" || last.Meta["neg"] != "-1" {
		t.Errorf("tags/meta: %v %v", last.Tags, last.Meta)
	}
}

func TestLanguageErrors(t *testing.T) {
	for _, src := range []string{
		`rule { condition: true }`,
		`rule A { condition: $a }`,
		`rule A { strings: $a = "x" condition: $a at 0 }`,
		`import "pe" rule A { condition: true }`,
		`rule A { strings: $a = { 4D [1-] } condition: $a }`,
		`rule A { strings: $a = { [1] 4D } condition: $a }`,
		`rule A { strings: $a = { 4D [1-99999] 5A } condition: $a }`,
		`rule A { strings: $a = /unclosed condition: $a }`,
		`rule A { strings: $a = "x" $a = "y" condition: $a }`,
		`rule A { condition: true } rule A { condition: true }`,
		`rule A { strings: $a = "x" xor condition: $a }`,
		`rule A { strings: $a = "x" condition: for any i in (1..2) : ($a) }`,
		`rule A { strings: $a = "\q" condition: $a }`,
		`rule A { strings: $a = { 4D ( 5A ( 00 | 01 ) | 02 ) } condition: $a }`,
		`rule A { condition: filesize < 99999999999999999999MB }`,
	} {
		if _, err := ParseRules(src); err == nil {
			t.Errorf("accepted: %s", src)
		}
	}
}

func FuzzRules(f *testing.F) {
	f.Add(`rule A : t { meta: a = "b" strings: $a = "x" nocase $b = { 4D ?? [1-2] ( 01 | 02 ) } $c = /a.b/is condition: any of them and uint16(0) == 1 or #a > 2 }`, []byte("xMZ\x00\x01"))
	f.Fuzz(func(t *testing.T, src string, data []byte) {
		rs, err := ParseRules(src)
		if err != nil {
			return
		}
		matching(rs, data)
	})
}

// TestKinds: strings and nodes carry their typed kinds.
func TestKinds(t *testing.T) {
	rs, err := ParseRules(`rule K { strings: $t = "abcd" $h = { 4D 5A 90 00 03 } $r = /x+y/ condition: ($t or $h) and #r > 0 and filesize < 1MB }`)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if r.Strings[0].Kind != TextString || r.Strings[1].Kind != HexString || r.Strings[2].Kind != RegexString {
		t.Errorf("string kinds %c %c %c", r.Strings[0].Kind, r.Strings[1].Kind, r.Strings[2].Kind)
	}
	if r.Cond.Op != OpAnd || r.Cond.Args[0].Op != OpAnd || r.Cond.Args[0].Args[0].Op != OpOr || r.Cond.Args[1].Op != OpCmp || r.Cond.Args[1].Args[1].Op != OpInt {
		t.Errorf("condition %+v", r.Cond)
	}
	if !NeedsAnchor(r) {
		t.Error("a rule that needs $t or $h is not anchored")
	}
	if atom, _ := r.Strings[0].Atom(); string(atom) != "abcd" {
		t.Errorf("atom %q", atom)
	}
	if !Eval(r, []byte("abcd xxy"), nil) || Eval(r, []byte("abcd xxy"), func(s *String) bool { return s.Var != "$r" }) {
		t.Error("absent strings are not searched")
	}
}
