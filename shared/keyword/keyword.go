// Package keyword finds which of many keywords occur in a buffer in one
// pass: a rolling, case-folded 4-byte window is looked up in a bit table,
// and only table hits are checked against the keywords that start with
// those four bytes. It is the prefilter in front of every regular
// expression of the secret and malware analyzers: searching each keyword
// with bytes.Index would read the buffer once per keyword.
package keyword

// Keyword is one literal to find. Fold makes the comparison ASCII
// case-insensitive. Keywords shorter than 4 bytes cannot be indexed.
type Keyword struct {
	Text []byte
	Fold bool
}

// Matcher finds keywords.
type Matcher struct {
	n       int
	windows map[uint32][]ref
	bits    []uint64
}

type ref struct {
	idx  int
	text []byte
	fold bool
}

const tableBits = 16

// FoldTable maps ASCII upper case to lower case and every other byte to itself.
var FoldTable = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 32
		}
	}
	return
}()

// New builds a matcher; keyword i is reported at index i. It panics on a
// keyword shorter than 4 bytes: that is a programming error in a rule set
// that callers check with Indexable first.
func New(kws []Keyword) *Matcher {
	m := &Matcher{n: len(kws), windows: map[uint32][]ref{}, bits: make([]uint64, 1<<(tableBits-6))}
	for i, k := range kws {
		if !Indexable(k.Text) {
			panic("keyword: shorter than 4 bytes: " + string(k.Text))
		}
		w := window(k.Text)
		m.windows[w] = append(m.windows[w], ref{idx: i, text: k.Text, fold: k.Fold})
		h := hash(w)
		m.bits[h>>6] |= 1 << (h & 63)
	}
	return m
}

// Indexable tells whether a literal is long enough to be a keyword.
func Indexable(b []byte) bool { return len(b) >= 4 }

func window(b []byte) uint32 {
	var w uint32
	for _, c := range b[:4] {
		w = w<<8 | uint32(FoldTable[c])
	}
	return w
}

func hash(w uint32) uint32 { return (w * 2654435761) >> (32 - tableBits) }

// Find reports which keywords occur in b: hit[i] for keyword i. It returns
// the number of distinct keywords found.
func (m *Matcher) Find(b []byte) (hit []bool, n int) {
	hit = make([]bool, m.n)
	if m.n == 0 || len(b) < 4 {
		return hit, 0
	}
	var w uint32
	bits := m.bits
	for i := 0; i < len(b); i++ {
		w = w<<8 | uint32(FoldTable[b[i]])
		if i < 3 {
			continue
		}
		h := hash(w)
		if bits[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		start := i - 3
		for _, r := range m.windows[w] {
			if hit[r.idx] || start+len(r.text) > len(b) {
				continue
			}
			if Equal(b[start:start+len(r.text)], r.text, r.fold) {
				hit[r.idx] = true
				n++
				if n == m.n {
					return hit, n
				}
			}
		}
	}
	return hit, n
}

// Equal compares two equal-length byte strings, folding ASCII case if asked.
func Equal(a, b []byte, fold bool) bool {
	if !fold {
		return string(a) == string(b)
	}
	for i := range a {
		if FoldTable[a[i]] != FoldTable[b[i]] {
			return false
		}
	}
	return true
}
