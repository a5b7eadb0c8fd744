// Package deb reads and writes what Debian packaging is made of: control
// paragraphs (the dpkg status database, Packages indexes, a package's
// control file), relation fields (Depends), and .deb archives.
package deb

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Field is one field of a paragraph. Value keeps continuation lines as
// they were ("line\n more"), so that a paragraph written back is the one
// read.
type Field struct{ Name, Value string }

// Paragraph is an ordered list of fields (RFC 822 style, Debian Policy 5.1).
type Paragraph []Field

// Get returns a field's value ("" when absent); names are case-insensitive.
func (p Paragraph) Get(name string) string {
	for _, f := range p {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Set replaces a field's value, or appends the field.
func (p *Paragraph) Set(name, value string) {
	for i, f := range *p {
		if strings.EqualFold(f.Name, name) {
			(*p)[i].Value = value
			return
		}
	}
	*p = append(*p, Field{name, value})
}

// Delete removes a field.
func (p *Paragraph) Delete(name string) {
	out := (*p)[:0]
	for _, f := range *p {
		if !strings.EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	*p = out
}

// WriteTo writes the paragraph, without the blank line that separates it
// from the next.
func (p Paragraph) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for _, f := range p {
		b.WriteString(f.Name)
		b.WriteByte(':')
		if f.Value != "" && !strings.HasPrefix(f.Value, "\n") {
			b.WriteByte(' ')
		}
		b.WriteString(f.Value)
		b.WriteByte('\n')
	}
	return b.WriteTo(w)
}

// MaxLine bounds one line of a control file: real ones are kilobytes (a
// long Description or Conffiles line); a megabyte line is hostile.
const MaxLine = 1 << 20

// ReadParagraphs calls fn for each paragraph of r in order; it stops at
// fn's first error. Malformed lines are errors: a database that does not
// parse is not rewritten.
func ReadParagraphs(r io.Reader, fn func(Paragraph) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4<<10), MaxLine) // grows for long lines
	var p Paragraph
	var cont strings.Builder // continuation lines of p's last field
	line := 0
	endField := func() {
		if cont.Len() > 0 {
			p[len(p)-1].Value += cont.String()
			cont.Reset()
		}
	}
	flush := func() error {
		endField()
		if len(p) == 0 {
			return nil
		}
		q := p
		p = nil
		return fn(q)
	}
	for sc.Scan() {
		line++
		s := sc.Text()
		if strings.TrimSpace(s) == "" {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if s[0] == ' ' || s[0] == '\t' {
			if len(p) == 0 {
				return fmt.Errorf("line %d: continuation line outside a field", line)
			}
			if cont.Len()+len(s) > MaxLine*16 {
				return fmt.Errorf("line %d: a field longer than %d bytes", line, MaxLine*16)
			}
			cont.WriteString("\n")
			cont.WriteString(s)
			continue
		}
		if s[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(s, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("line %d: malformed field line %q", line, clip(s))
		}
		endField()
		p = append(p, Field{k, strings.TrimSpace(v)})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return flush()
}

// ParseParagraph reads exactly the first paragraph of b (a control file).
func ParseParagraph(b []byte) (Paragraph, error) {
	var out Paragraph
	err := ReadParagraphs(bytes.NewReader(b), func(p Paragraph) error {
		if out == nil {
			out = p
		}
		return nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("no paragraph")
	}
	return out, err
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Relation is one alternative of a relation field: "libc6 (>= 2.34)",
// "libfoo:any", "bar [amd64]".
type Relation struct {
	Name string
	// Op is one of <<, <=, =, >=, >> ("" for any version).
	Op      string
	Version string
	// Arch is the ":any"/":native" qualifier, without the colon.
	Arch string
}

func (r Relation) String() string {
	s := r.Name
	if r.Arch != "" {
		s += ":" + r.Arch
	}
	if r.Op != "" {
		s += " (" + r.Op + " " + r.Version + ")"
	}
	return s
}

// ParseRelations reads a Depends-style field: a comma list of alternatives
// separated by "|". Architecture restrictions ("[amd64]") and build
// profiles ("<!nocheck>") are dropped: binary packages' fields have none.
func ParseRelations(s string) ([][]Relation, error) {
	var out [][]Relation
	for _, group := range strings.Split(strings.ReplaceAll(s, "\n", " "), ",") {
		group = strings.TrimSpace(group)
		if group == "" {
			continue
		}
		var alts []Relation
		for _, alt := range strings.Split(group, "|") {
			r, err := parseRelation(strings.TrimSpace(alt))
			if err != nil {
				return nil, err
			}
			alts = append(alts, r)
		}
		out = append(out, alts)
	}
	return out, nil
}

func parseRelation(s string) (Relation, error) {
	// cut architecture restrictions and build profiles, outside the version
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '[', '<':
			if depth == 0 {
				s = strings.TrimSpace(s[:i])
				i = len(s)
			}
		}
	}
	var r Relation
	name, rest, _ := strings.Cut(s, "(")
	name = strings.TrimSpace(name)
	if n, a, ok := strings.Cut(name, ":"); ok {
		name, r.Arch = n, a
	}
	if name == "" || strings.ContainsAny(name, " \t") {
		return r, fmt.Errorf("relation %q: bad package name", clip(s))
	}
	r.Name = name
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return r, nil
	}
	body, ok := strings.CutSuffix(rest, ")")
	if !ok {
		return r, fmt.Errorf("relation %q: unclosed version", clip(s))
	}
	body = strings.TrimSpace(body)
	for _, op := range []string{"<<", "<=", ">=", ">>", "=", "<", ">"} {
		if v, ok := strings.CutPrefix(body, op); ok {
			r.Op, r.Version = op, strings.TrimSpace(v)
			// "<" and ">" are obsolete spellings of "<=" and ">=".
			switch op {
			case "<":
				r.Op = "<="
			case ">":
				r.Op = ">="
			}
			break
		}
	}
	if r.Op == "" || r.Version == "" {
		return r, fmt.Errorf("relation %q: bad version constraint", clip(s))
	}
	return r, nil
}
