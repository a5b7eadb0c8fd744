// Package yara is the YARA-subset rule language of layerscan's malware
// signatures: a lexer and parser into typed rules (Rule, String, Expr with
// their kinds), and the engine that evaluates a rule over a file's bytes.
// Anything of YARA outside the subset is refused with an error, never
// silently ignored.
package yara

import (
	"fmt"
	"strconv"
	"strings"
)

// The rule language is a subset of YARA:
//
//	rule Name : tag1 tag2 {
//	  meta:      key = "value"  (also numbers, true/false)
//	  strings:   $a = "text" nocase ascii wide fullword
//	             $b = { 4D 5A ?? 9? [2-4] 00 }
//	             $c = /regex/is
//	  condition: any of them and filesize < 1MB and uint16(0) == 0x5A4D
//	}
//
// Conditions: and, or, not, parentheses; $a; #a (count); any/all/N of
// them or of ($a, $b*); filesize; uint8/16/32(offset) and their "be"
// forms; integers with KB/MB; comparisons < <= > >= == !=; true, false.
// Imports, modules, for-loops and string offsets (@a, $a at N) are not
// supported and are refused with an error, never silently ignored.

// Rule is one parsed rule.
type Rule struct {
	Name    string
	Tags    []string
	Meta    map[string]string
	Strings []*String
	Cond    Expr
	Private bool
}

// String is one string definition of a rule.
type String struct {
	Var  string // "$a"
	Kind StringKind
	// Text is the text, the hex pattern source or the regex source.
	Text                     string
	Nocase, Wide, Fullword   bool
	RegexDotAll, RegexNocase bool
	m                        matcher
}

// StringKind says how a string is written and matched.
type StringKind byte

// The kinds of strings.
const (
	TextString  StringKind = 't' // "text", matched on raw bytes
	HexString   StringKind = 'h' // { 4D 5A ?? [2-4] ( 00 | 01 ) }
	RegexString StringKind = 'r' // /regex/is, for text
)

// Op is the kind of a condition node.
type Op string

// The kinds of condition nodes.
const (
	OpAnd      Op = "and"
	OpOr       Op = "or"
	OpNot      Op = "not"
	OpCmp      Op = "cmp"      // Args[0] Cmp Args[1]
	OpStr      Op = "str"      // $a matches
	OpCount    Op = "count"    // #a
	OpOf       Op = "of"       // Quant of Set
	OpFilesize Op = "filesize" // the file's size
	OpInt      Op = "int"      // Int
	OpUint     Op = "uint"     // uintW(Int), BigEndian
	OpBool     Op = "bool"     // Int is 0 or 1
)

// Expr is a node of a condition.
type Expr struct {
	Op   Op
	Args []Expr
	// Str is the variable of str/count; Cmp the comparison operator.
	Str, Cmp string
	// Int is the value of an int or bool (0/1), the offset of uint, the N of "N of".
	Int int64
	// Width and BigEndian describe uint reads; Quant is any, all or N.
	Width     int
	BigEndian bool
	Quant     string
	Set       []string
}

// tokenKind is the lexical class of a token.
type tokenKind byte

const (
	tokEOF    tokenKind = iota
	tokIdent            // rule, and, filesize, nocase, …
	tokString           // "text"
	tokNumber           // 12, 0x5A4D, 1MB
	tokHex              // { 4D 5A ?? }
	tokRegex            // /re/is
	tokPunct            // ( ) { } : = , - and comparisons
	tokVar              // $a, $a*
	tokCount            // #a
)

type token struct {
	kind tokenKind
	text string
	pos  int
	line int
}

type lexer struct {
	src  string
	pos  int
	line int
}

func (l *lexer) errf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", l.line, fmt.Sprintf(format, args...))
}

func (l *lexer) skip() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.line++
			l.pos++
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
		case strings.HasPrefix(l.src[l.pos:], "//"):
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return l.errf("unterminated comment")
			}
			l.line += strings.Count(l.src[l.pos:l.pos+2+end], "\n")
			l.pos += end + 4
		default:
			return nil
		}
	}
	return nil
}

// next reads one token; regexOK says whether a '/' starts a regex here.
func (l *lexer) next(regexOK bool) (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, pos: l.pos, line: l.line}, nil
	}
	start := l.pos
	c := l.src[l.pos]
	tok := func(kind tokenKind) token {
		return token{kind: kind, text: l.src[start:l.pos], pos: start, line: l.line}
	}
	switch {
	case c == '"':
		l.pos++
		for l.pos < len(l.src) && l.src[l.pos] != '"' {
			if l.src[l.pos] == '\\' {
				l.pos++
			}
			if l.pos < len(l.src) && l.src[l.pos] == '\n' {
				return token{}, l.errf("newline in string")
			}
			l.pos++
		}
		if l.pos >= len(l.src) {
			return token{}, l.errf("unterminated string")
		}
		l.pos++
		return tok(tokString), nil
	case c == '{' && regexOK:
		end := strings.IndexByte(l.src[l.pos:], '}')
		if end < 0 {
			return token{}, l.errf("unterminated hex string")
		}
		l.line += strings.Count(l.src[l.pos:l.pos+end], "\n")
		l.pos += end + 1
		return tok(tokHex), nil
	case c == '/' && regexOK:
		l.pos++
		for l.pos < len(l.src) && l.src[l.pos] != '/' {
			if l.src[l.pos] == '\\' {
				l.pos++
			}
			if l.pos < len(l.src) && l.src[l.pos] == '\n' {
				return token{}, l.errf("newline in regex")
			}
			l.pos++
		}
		if l.pos >= len(l.src) {
			return token{}, l.errf("unterminated regex")
		}
		l.pos++
		for l.pos < len(l.src) && (l.src[l.pos] == 'i' || l.src[l.pos] == 's') {
			l.pos++
		}
		return tok(tokRegex), nil
	case c == '$' || c == '#':
		l.pos++
		for l.pos < len(l.src) && (isIdent(l.src[l.pos]) || l.src[l.pos] == '*') {
			l.pos++
		}
		if c == '#' {
			return tok(tokCount), nil
		}
		return tok(tokVar), nil
	case c >= '0' && c <= '9':
		for l.pos < len(l.src) && (isIdent(l.src[l.pos])) {
			l.pos++
		}
		return tok(tokNumber), nil
	case isIdent(c):
		for l.pos < len(l.src) && isIdent(l.src[l.pos]) {
			l.pos++
		}
		return tok(tokIdent), nil
	}
	for _, p := range []string{"<=", ">=", "==", "!=", "<", ">", "(", ")", "{", "}", ":", "=", ",", "-"} {
		if strings.HasPrefix(l.src[l.pos:], p) {
			l.pos += len(p)
			return tok(tokPunct), nil
		}
	}
	return token{}, l.errf("unexpected character %q", c)
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

type parser struct {
	lx   lexer
	tok  token
	peek *token
}

func (p *parser) advance(regexOK bool) error {
	if p.peek != nil {
		p.tok, p.peek = *p.peek, nil
		return nil
	}
	t, err := p.lx.next(regexOK)
	p.tok = t
	return err
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", p.tok.line, fmt.Sprintf(format, args...))
}

func (p *parser) expect(text string) error {
	if p.tok.text != text {
		return p.errf("expected %q, found %q", text, p.tok.text)
	}
	return nil
}

// eat expects a token and moves past it.
func (p *parser) eat(text string) error {
	if err := p.expect(text); err != nil {
		return err
	}
	return p.advance(false)
}

// maxRules and maxStrings bound what one rule file may ask of every scan.
const (
	maxRules   = 10000
	maxStrings = 10000
)

// ParseRules reads rules in the YARA subset described above.
func ParseRules(src string) ([]*Rule, error) {
	p := &parser{lx: lexer{src: src, line: 1}}
	if err := p.advance(false); err != nil {
		return nil, err
	}
	var rules []*Rule
	names := map[string]bool{}
	for p.tok.kind != tokEOF {
		r, err := p.rule()
		if err != nil {
			return nil, err
		}
		if names[r.Name] {
			return nil, fmt.Errorf("rule %s defined twice", r.Name)
		}
		names[r.Name] = true
		if len(rules) >= maxRules {
			return nil, fmt.Errorf("more than %d rules", maxRules)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func (p *parser) rule() (*Rule, error) {
	r := &Rule{Meta: map[string]string{}}
	for p.tok.text == "private" || p.tok.text == "global" {
		r.Private = r.Private || p.tok.text == "private"
		if err := p.advance(false); err != nil {
			return nil, err
		}
	}
	if p.tok.text == "import" || p.tok.text == "include" {
		return nil, p.errf("%s is not supported", p.tok.text)
	}
	if err := p.eat("rule"); err != nil {
		return nil, err
	}
	if p.tok.kind != tokIdent {
		return nil, p.errf("rule name expected")
	}
	r.Name = p.tok.text
	if err := p.advance(false); err != nil {
		return nil, err
	}
	if p.tok.text == ":" {
		for {
			if err := p.advance(false); err != nil {
				return nil, err
			}
			if p.tok.kind != tokIdent {
				break
			}
			r.Tags = append(r.Tags, p.tok.text)
		}
	}
	if err := p.eat("{"); err != nil {
		return nil, err
	}
	for p.tok.text != "condition" {
		switch p.tok.text {
		case "meta":
			if err := p.meta(r); err != nil {
				return nil, err
			}
		case "strings":
			if err := p.strings(r); err != nil {
				return nil, err
			}
		default:
			return nil, p.errf("expected meta, strings or condition in rule %s, found %q", r.Name, p.tok.text)
		}
	}
	if err := p.advance(false); err != nil {
		return nil, err
	}
	if err := p.eat(":"); err != nil {
		return nil, err
	}
	cond, err := p.or(0)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.Name, err)
	}
	r.Cond = cond
	if err := p.eat("}"); err != nil {
		return nil, err
	}
	if err := checkRefs(r, r.Cond); err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.Name, err)
	}
	return r, nil
}

func (p *parser) meta(r *Rule) error {
	if err := p.advance(false); err != nil {
		return err
	}
	if err := p.eat(":"); err != nil {
		return err
	}
	for p.tok.kind == tokIdent && p.tok.text != "strings" && p.tok.text != "condition" {
		key := p.tok.text
		if err := p.advance(false); err != nil {
			return err
		}
		if err := p.eat("="); err != nil {
			return err
		}
		val := p.tok.text
		switch p.tok.kind {
		case tokString:
			s, err := unquote(val)
			if err != nil {
				return p.errf("meta %s: %v", key, err)
			}
			val = s
		case tokNumber, tokIdent:
		case tokPunct:
			if val != "-" {
				return p.errf("meta %s: value expected", key)
			}
			if err := p.advance(false); err != nil {
				return err
			}
			val = "-" + p.tok.text
		default:
			return p.errf("meta %s: value expected", key)
		}
		r.Meta[key] = val
		if err := p.advance(false); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) strings(r *Rule) error {
	if err := p.advance(false); err != nil {
		return err
	}
	if err := p.eat(":"); err != nil {
		return err
	}
	for p.tok.kind == tokVar {
		s := &String{Var: p.tok.text}
		if s.Var == "$" || strings.Contains(s.Var, "*") {
			return p.errf("string variable %q must be named", s.Var)
		}
		for _, o := range r.Strings {
			if o.Var == s.Var {
				return p.errf("string %s defined twice", s.Var)
			}
		}
		if err := p.advance(false); err != nil {
			return err
		}
		if err := p.expect("="); err != nil {
			return err
		}
		if err := p.advance(true); err != nil {
			return err
		}
		switch p.tok.kind {
		case tokString:
			t, err := unquote(p.tok.text)
			if err != nil {
				return p.errf("%s: %v", s.Var, err)
			}
			s.Kind, s.Text = TextString, t
		case tokHex:
			s.Kind, s.Text = HexString, strings.TrimSpace(p.tok.text[1:len(p.tok.text)-1])
		case tokRegex:
			end := strings.LastIndexByte(p.tok.text, '/')
			s.Kind, s.Text = RegexString, p.tok.text[1:end]
			for _, f := range p.tok.text[end+1:] {
				s.RegexNocase = s.RegexNocase || f == 'i'
				s.RegexDotAll = s.RegexDotAll || f == 's'
			}
		default:
			return p.errf("%s: a string, hex string or regex expected", s.Var)
		}
		if err := p.advance(false); err != nil {
			return err
		}
		for p.tok.kind == tokIdent {
			switch p.tok.text {
			case "nocase":
				s.Nocase = true
			case "wide":
				s.Wide = true
			case "ascii":
			case "fullword":
				s.Fullword = true
			case "condition", "strings", "meta":
				goto done
			default:
				return p.errf("%s: modifier %q is not supported", s.Var, p.tok.text)
			}
			if err := p.advance(false); err != nil {
				return err
			}
		}
	done:
		if err := compileString(s); err != nil {
			return p.errf("%s: %v", s.Var, err)
		}
		if len(r.Strings) >= maxStrings {
			return p.errf("more than %d strings", maxStrings)
		}
		r.Strings = append(r.Strings, s)
	}
	return nil
}

var precedence = map[string]int{"or": 1, "and": 2}

// or parses binary and/or with precedence climbing.
func (p *parser) or(min int) (Expr, error) {
	left, err := p.unary()
	if err != nil {
		return Expr{}, err
	}
	for {
		prec, ok := precedence[p.tok.text]
		if !ok || prec < min || p.tok.kind != tokIdent {
			return left, nil
		}
		op := p.tok.text
		if err := p.advance(false); err != nil {
			return Expr{}, err
		}
		right, err := p.or(prec + 1)
		if err != nil {
			return Expr{}, err
		}
		left = Expr{Op: Op(op), Args: []Expr{left, right}}
	}
}

func (p *parser) unary() (Expr, error) {
	if p.tok.kind == tokIdent && p.tok.text == "not" {
		if err := p.advance(false); err != nil {
			return Expr{}, err
		}
		e, err := p.unary()
		return Expr{Op: OpNot, Args: []Expr{e}}, err
	}
	left, err := p.primary()
	if err != nil {
		return Expr{}, err
	}
	switch p.tok.text {
	case "<", "<=", ">", ">=", "==", "!=":
		cmp := p.tok.text
		if err := p.advance(false); err != nil {
			return Expr{}, err
		}
		right, err := p.primary()
		if err != nil {
			return Expr{}, err
		}
		return Expr{Op: OpCmp, Cmp: cmp, Args: []Expr{left, right}}, nil
	}
	return left, nil
}

func (p *parser) primary() (Expr, error) {
	t := p.tok
	adv := func() error { return p.advance(false) }
	switch {
	case t.text == "(":
		if err := adv(); err != nil {
			return Expr{}, err
		}
		e, err := p.or(0)
		if err != nil {
			return Expr{}, err
		}
		if err := p.expect(")"); err != nil {
			return Expr{}, err
		}
		return e, adv()
	case t.kind == tokVar:
		if strings.Contains(t.text, "*") {
			return Expr{}, p.errf("wildcard %s outside a set", t.text)
		}
		if err := adv(); err != nil {
			return Expr{}, err
		}
		if p.tok.text == "at" || p.tok.text == "in" {
			return Expr{}, p.errf("string offsets (%s %s) are not supported", t.text, p.tok.text)
		}
		return Expr{Op: OpStr, Str: t.text}, nil
	case t.kind == tokCount:
		if err := adv(); err != nil {
			return Expr{}, err
		}
		return Expr{Op: OpCount, Str: "$" + t.text[1:]}, nil
	case t.kind == tokNumber:
		n, err := parseInt(t.text)
		if err != nil {
			return Expr{}, p.errf("%v", err)
		}
		if err := adv(); err != nil {
			return Expr{}, err
		}
		if p.tok.text == "of" {
			return p.of(strconv.FormatInt(n, 10))
		}
		return Expr{Op: OpInt, Int: n}, nil
	case t.kind == tokIdent:
		switch t.text {
		case "true", "false":
			v := int64(0)
			if t.text == "true" {
				v = 1
			}
			return Expr{Op: OpBool, Int: v}, adv()
		case "filesize":
			return Expr{Op: OpFilesize}, adv()
		case "any", "all", "none":
			if err := adv(); err != nil {
				return Expr{}, err
			}
			return p.of(t.text)
		case "uint8", "uint16", "uint32", "uint16be", "uint32be":
			width, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(t.text, "uint"), "be"))
			if err := adv(); err != nil {
				return Expr{}, err
			}
			if err := p.expect("("); err != nil {
				return Expr{}, err
			}
			if err := adv(); err != nil {
				return Expr{}, err
			}
			if p.tok.kind != tokNumber {
				return Expr{}, p.errf("%s takes a constant offset", t.text)
			}
			off, err := parseInt(p.tok.text)
			if err != nil {
				return Expr{}, p.errf("%v", err)
			}
			if err := adv(); err != nil {
				return Expr{}, err
			}
			if err := p.expect(")"); err != nil {
				return Expr{}, err
			}
			return Expr{Op: OpUint, Int: off, Width: width / 8, BigEndian: strings.HasSuffix(t.text, "be")}, adv()
		}
	}
	return Expr{}, p.errf("unexpected %q in condition", t.text)
}

// of parses the set after "<quantifier> of".
func (p *parser) of(quant string) (Expr, error) {
	if err := p.eat("of"); err != nil {
		return Expr{}, err
	}
	e := Expr{Op: OpOf, Quant: quant}
	if p.tok.text == "them" {
		return e, p.advance(false)
	}
	if err := p.expect("("); err != nil {
		return Expr{}, err
	}
	for {
		if err := p.advance(false); err != nil {
			return Expr{}, err
		}
		if p.tok.kind != tokVar {
			return Expr{}, p.errf("string variable expected in set")
		}
		e.Set = append(e.Set, p.tok.text)
		if err := p.advance(false); err != nil {
			return Expr{}, err
		}
		if p.tok.text == ")" {
			return e, p.advance(false)
		}
		if err := p.expect(","); err != nil {
			return Expr{}, err
		}
	}
}

func parseInt(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "KB"):
		mult, s = 1024, strings.TrimSuffix(s, "KB")
	case strings.HasSuffix(s, "MB"):
		mult, s = 1<<20, strings.TrimSuffix(s, "MB")
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("number %q too large", s)
	}
	return n * mult, nil
}

// unquote reads a YARA text string: \" \\ \n \t \r and \xNN escapes.
func unquote(q string) (string, error) {
	q = q[1 : len(q)-1]
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(q) {
			return "", fmt.Errorf("dangling escape")
		}
		switch q[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '"', '\\':
			b.WriteByte(q[i])
		case 'x':
			if i+3 > len(q) {
				return "", fmt.Errorf("short \\x escape")
			}
			v, err := strconv.ParseUint(q[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("bad \\x escape")
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			return "", fmt.Errorf("unknown escape \\%c", q[i])
		}
	}
	return b.String(), nil
}

// checkRefs makes sure every variable a condition names is defined.
func checkRefs(r *Rule, e Expr) error {
	has := func(v string) bool {
		for _, s := range r.Strings {
			if s.Var == v {
				return true
			}
		}
		return false
	}
	switch e.Op {
	case OpStr, OpCount:
		if !has(e.Str) {
			return fmt.Errorf("undefined string %s", e.Str)
		}
	case OpOf:
		if len(r.Strings) == 0 {
			return fmt.Errorf("%s of with no strings", e.Quant)
		}
		for _, v := range e.Set {
			if strings.HasSuffix(v, "*") {
				continue
			}
			if !has(v) {
				return fmt.Errorf("undefined string %s", v)
			}
		}
	}
	for _, a := range e.Args {
		if err := checkRefs(r, a); err != nil {
			return err
		}
	}
	return nil
}
