package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

type entry struct {
	name, body, link string
	typ              byte
}

func mkTar(t testing.TB, es []entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: typ, Linkname: e.link}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(b []byte) []byte {
	w, _ := zstd.NewWriter(nil)
	return w.EncodeAll(b, nil)
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func walk(t testing.TB, blob []byte, want Expect, lim Limits) (*Result, []string, error) {
	var seen []string
	res, err := Walk(context.Background(), bytes.NewReader(blob), want, lim, func(e Entry, r io.Reader) error {
		seen = append(seen, e.Path)
		_, err := io.Copy(io.Discard, r)
		return err
	})
	return res, seen, err
}

func TestWalkCompressions(t *testing.T) {
	raw := mkTar(t, []entry{{name: "./etc/os-release", body: "ID=debian\n"}, {name: "/usr/bin/x", body: "x"}})
	for name, blob := range map[string][]byte{"none": raw, "gzip": gz(raw), "zstd": zst(raw)} {
		t.Run(name, func(t *testing.T) {
			res, seen, err := walk(t, blob, Expect{Digest: digest(blob), DiffID: digest(raw)}, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Compression != name {
				t.Errorf("compression %s", res.Compression)
			}
			if strings.Join(seen, ",") != "etc/os-release,usr/bin/x" {
				t.Errorf("paths %v", seen)
			}
		})
	}
}

func TestWalkHostile(t *testing.T) {
	good := mkTar(t, []entry{{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"}})
	gzGood := gz(good)
	bomb := gz(mkTar(t, []entry{{name: "zeros", body: strings.Repeat("\x00", 8<<20)}}))
	cases := []struct {
		name    string
		blob    []byte
		want    Expect
		lim     Limits
		errIs   error
		errText string
		unsafe  int
	}{
		{name: "truncated gzip", blob: gzGood[:len(gzGood)/2], errText: "truncated"},
		{name: "garbage after gzip magic", blob: append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{0xff}, 64)...), errText: "gzip"},
		{name: "digest mismatch", blob: gzGood, want: Expect{Digest: "sha256:" + strings.Repeat("0", 64)}, errIs: ErrDigest},
		{name: "diffID mismatch", blob: gzGood, want: Expect{Digest: digest(gzGood), DiffID: "sha256:" + strings.Repeat("1", 64)}, errIs: ErrDigest},
		{name: "decompression bomb", blob: bomb, lim: Limits{MaxUncompressedBytes: 1 << 20, MaxEntries: 10, MaxPathLen: 100}, errIs: ErrLimit},
		{name: "too many entries", blob: mkTar(t, []entry{{name: "a"}, {name: "b"}, {name: "c"}}), lim: Limits{MaxUncompressedBytes: 1 << 20, MaxEntries: 2, MaxPathLen: 100}, errIs: ErrLimit},
		{name: "dot-dot path", blob: mkTar(t, []entry{{name: "../../etc/cron.d/evil", body: "* * * * * root sh"}, {name: "ok", body: "1"}}), unsafe: 1},
		{name: "dot-dot hard link", blob: mkTar(t, []entry{{name: "x", typ: tar.TypeLink, link: "../../etc/shadow"}}), unsafe: 1},
		{name: "absolute symlink is harmless", blob: mkTar(t, []entry{{name: "etc/localtime", typ: tar.TypeSymlink, link: "/usr/share/zoneinfo/UTC"}})},
		{name: "long path", blob: mkTar(t, []entry{{name: strings.Repeat("d/", 60) + "f", body: "x"}}), lim: Limits{MaxUncompressedBytes: 1 << 20, MaxEntries: 10, MaxPathLen: 100}, unsafe: 1},
		{name: "not a tar", blob: []byte("hello, this is not a tar archive at all, just some text that is long enough......................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................."), errText: "tar"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, _, err := walk(t, c.blob, c.want, c.lim)
			switch {
			case c.errIs != nil && !errors.Is(err, c.errIs):
				t.Fatalf("error %v, want %v", err, c.errIs)
			case c.errText != "" && (err == nil || !strings.Contains(err.Error(), c.errText)):
				t.Fatalf("error %v, want one mentioning %q", err, c.errText)
			case c.errIs == nil && c.errText == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			}
			if res != nil && len(res.Unsafe) != c.unsafe {
				t.Errorf("unsafe entries %v, want %d", res.Unsafe, c.unsafe)
			}
		})
	}
}

func TestWalkWhiteouts(t *testing.T) {
	raw := mkTar(t, []entry{{name: "etc/.wh.issue.net"}, {name: "opt/cache/.wh..wh..opq"}, {name: "opt/cache/README", body: "x"}})
	res, seen, err := walk(t, raw, Expect{}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Whiteouts) != "[etc/issue.net]" || fmt.Sprint(res.OpaqueDirs) != "[opt/cache]" || fmt.Sprint(seen) != "[opt/cache/README]" {
		t.Errorf("whiteouts %v opaque %v seen %v", res.Whiteouts, res.OpaqueDirs, seen)
	}
}

func TestWalkManyTinyFiles(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	const n = 100_000
	for i := 0; i < n; i++ {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%03d/f%06d", i%1000, i), Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte{'x'})
	}
	tw.Close()
	blob := gz(buf.Bytes())
	res, seen, err := walk(t, blob, Expect{Digest: digest(blob), DiffID: digest(buf.Bytes())}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != n || len(seen) != n {
		t.Errorf("entries %d, seen %d, want %d", res.Entries, len(seen), n)
	}
}

func FuzzWalk(f *testing.F) {
	f.Add(mkTar(f, []entry{{name: "etc/os-release", body: "ID=alpine"}}))
	f.Add(gz(mkTar(f, []entry{{name: "a/.wh.b"}})))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxUncompressedBytes: 4 << 20, MaxEntries: 1000, MaxPathLen: 256}
		Walk(context.Background(), bytes.NewReader(b), Expect{}, lim, func(e Entry, r io.Reader) error {
			if strings.HasPrefix(e.Path, "/") || strings.Contains("/"+e.Path+"/", "/../") {
				t.Fatalf("unsafe path handed out: %q", e.Path)
			}
			_, err := io.Copy(io.Discard, r)
			return err
		})
	})
}

// TestGzipPaddingAndMembers: trailing zero padding after the last gzip
// member is accepted (as container runtimes do) and covered by the digest;
// concatenated members are read whole; other trailing bytes fail.
func TestGzipPaddingAndMembers(t *testing.T) {
	raw := mkTar(t, []entry{{name: "etc/a", body: "one"}, {name: "etc/b", body: "two"}})
	padded := append(gz(raw), make([]byte, 4096)...)
	if res, paths, err := walk(t, padded, Expect{Digest: digest(padded), DiffID: digest(raw)}, Limits{}); err != nil || len(paths) != 2 || res.DigestHex == "" {
		t.Errorf("padded: %v %v", paths, err)
	}
	half := len(raw) / 2
	members := append(gz(raw[:half]), gz(raw[half:])...)
	if _, paths, err := walk(t, members, Expect{Digest: digest(members), DiffID: digest(raw)}, Limits{}); err != nil || len(paths) != 2 {
		t.Errorf("two members: %v %v", paths, err)
	}
	garbage := append(gz(raw), []byte("not padding")...)
	if _, _, err := walk(t, garbage, Expect{}, Limits{}); err == nil {
		t.Error("trailing garbage after the gzip stream was accepted")
	}
}

func TestCleanPath(t *testing.T) {
	for name, want := range map[string]string{
		"./a/../b": "b", "/etc/passwd": "etc/passwd", "a//b/./c": "a/b/c", "./": "", "/": "",
		"../x": "!", "a/../../etc/passwd": "!", "/../x": "!", "..": "!",
	} {
		got, ok := CleanPath(name)
		if want == "!" {
			if ok {
				t.Errorf("%s: %q accepted", name, got)
			}
		} else if !ok || got != want {
			t.Errorf("%s: %q %v, want %q", name, got, ok, want)
		}
	}
}
