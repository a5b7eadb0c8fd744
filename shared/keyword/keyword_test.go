package keyword

import (
	"bytes"
	"testing"
)

func TestFind(t *testing.T) {
	m := New([]Keyword{{[]byte("PRIVATE KEY"), false}, {[]byte("ltai"), true}, {[]byte("AKIA"), false}, {[]byte("eval($_"), true}})
	cases := []struct {
		in   string
		want []bool
	}{
		{"-----BEGIN RSA PRIVATE KEY-----", []bool{true, false, false, false}},
		{"private key", []bool{false, false, false, false}},
		{"id=LTAI5tQ8", []bool{false, true, false, false}},
		{"akia AKIA", []bool{false, false, true, false}},
		{"<?php EVAL($_POST[x])", []bool{false, false, false, true}},
		{"abc", []bool{false, false, false, false}},
		{"PRIVATE KE", []bool{false, false, false, false}},
	}
	for _, c := range cases {
		hit, n := m.Find([]byte(c.in))
		count := 0
		for i := range hit {
			if hit[i] != c.want[i] {
				t.Errorf("%q: %v, want %v", c.in, hit, c.want)
				break
			}
			if hit[i] {
				count++
			}
		}
		if n != count {
			t.Errorf("%q: n=%d, %d hits", c.in, n, count)
		}
	}
}

func FuzzFind(f *testing.F) {
	kws := []Keyword{{[]byte("abcd"), false}, {[]byte("XyZw"), true}, {[]byte("abcdef"), false}}
	m := New(kws)
	f.Add([]byte("zzabcdefXYZW"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hit, _ := m.Find(b)
		for i, k := range kws {
			want := bytes.Contains(b, k.Text)
			if k.Fold {
				want = bytes.Contains(bytes.ToLower(b), bytes.ToLower(k.Text))
			}
			if hit[i] != want {
				t.Fatalf("%q: keyword %q hit=%v want %v", b, k.Text, hit[i], want)
			}
		}
	})
}

func BenchmarkFind(b *testing.B) {
	m := New([]Keyword{{[]byte("PRIVATE KEY"), false}, {[]byte("ltai"), true}, {[]byte("service_account"), false}, {[]byte("ghp_"), false}})
	buf := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog config value server port host "), 1<<14)
	b.SetBytes(int64(len(buf)))
	for i := 0; i < b.N; i++ {
		m.Find(buf)
	}
}
