package rpm

import (
	"archive/tar"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mkHeader builds an rpm header blob with string tags.
func mkHeader(tags map[int32]string) []byte {
	var data []byte
	var index []byte
	for tag, v := range tags {
		e := make([]byte, 16)
		binary.BigEndian.PutUint32(e, uint32(tag))
		binary.BigEndian.PutUint32(e[4:], typeString)
		binary.BigEndian.PutUint32(e[8:], uint32(len(data)))
		binary.BigEndian.PutUint32(e[12:], 1)
		index = append(index, e...)
		data = append(append(data, v...), 0)
	}
	out := make([]byte, 8)
	binary.BigEndian.PutUint32(out, uint32(len(tags)))
	binary.BigEndian.PutUint32(out[4:], uint32(len(data)))
	return append(append(out, index...), data...)
}

func TestParseHeader(t *testing.T) {
	h, err := parseHeader(mkHeader(map[int32]string{tagName: "bash", tagVersion: "5.1.8", tagRelease: "4.el9", tagArch: "aarch64", tagSourceRPM: "bash-5.1.8-4.el9.src.rpm"}))
	if err != nil {
		t.Fatal(err)
	}
	p := newPackage(h, "var/lib/rpm/Packages")
	if p.Name != "bash" || p.Version != "5.1.8-4.el9" || p.SourceName != "bash" || p.SourceVersion != "5.1.8-4.el9" {
		t.Errorf("%+v", p)
	}
	for _, bad := range [][]byte{nil, {0, 0, 0, 1}, {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, mkHeader(map[int32]string{tagArch: "x"})} {
		if _, err := parseHeader(bad); err == nil {
			t.Errorf("accepted %x", bad)
		}
	}
}

func TestSplitSourceRPM(t *testing.T) {
	for in, want := range map[string][2]string{
		"glibc-2.34-28.el9_0.src.rpm":     {"glibc", "2.34-28.el9_0"},
		"python3.11-3.11.2-2.el9.src.rpm": {"python3.11", "3.11.2-2.el9"},
		"":                                {"", ""},
	} {
		n, v := splitSourceRPM(in)
		if n != want[0] || v != want[1] {
			t.Errorf("%q: %s %s", in, n, v)
		}
	}
}

// corpusBDB is the AlmaLinux 9 micro image's real BerkeleyDB Packages
// file, read from the corpus beside the repository; nil without it.
func corpusBDB(t testing.TB) []byte {
	dir := os.Getenv("LAYERSCAN_SHARED")
	if dir == "" {
		dir = "../../../../shared"
	}
	f, err := os.Open(filepath.Join(dir, "corpus", "images", "almalinux-9.0-micro-arm64.tar"))
	if err != nil {
		return nil
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil
		}
		if !strings.HasSuffix(h.Name, ".tar.gz") {
			continue
		}
		zr, err := gzip.NewReader(tr)
		if err != nil {
			continue
		}
		lr := tar.NewReader(zr)
		for {
			lh, err := lr.Next()
			if err != nil {
				break
			}
			if strings.TrimPrefix(lh.Name, "./") == "var/lib/rpm/Packages" {
				b, _ := io.ReadAll(lr)
				return b
			}
		}
	}
}

// TestDamagedBDBIsAnError: a database that does not read whole (a flipped
// page type, zeroed hash pages, a truncated file) is an error, never a
// short list of packages.
func TestDamagedBDBIsAnError(t *testing.T) {
	db := corpusBDB(t)
	if db == nil {
		t.Skip("no corpus beside the repository")
	}
	vals, err := bdbValues(db)
	if err != nil || len(vals) != 23 {
		t.Fatalf("the real database: %d values, %v", len(vals), err)
	}
	pageSize := int(binary.LittleEndian.Uint32(db[20:]))
	var hashPages []int
	for n := 1; n < len(db)/pageSize; n++ {
		if db[n*pageSize+25] == pageHash {
			hashPages = append(hashPages, n)
		}
	}
	damage := map[string]func([]byte) []byte{
		"flipped page type": func(b []byte) []byte { b[hashPages[0]*pageSize+25] ^= 0x40; return b },
		"zeroed hash pages": func(b []byte) []byte {
			for _, n := range hashPages {
				clear(b[n*pageSize : (n+1)*pageSize])
			}
			return b
		},
		"truncated":   func(b []byte) []byte { return b[:len(b)-pageSize] },
		"wrong nelem": func(b []byte) []byte { binary.LittleEndian.PutUint32(b[88:], 99); return b },
		"bad item type": func(b []byte) []byte {
			p := hashPages[0] * pageSize
			off := int(binary.LittleEndian.Uint16(b[p+bdbPageHeaderLen+2:]))
			b[p+off] = 2 // H_DUPLICATE
			return b
		},
	}
	for name, f := range damage {
		if vals, err := bdbValues(f(append([]byte(nil), db...))); err == nil {
			t.Errorf("%s: read %d values without an error", name, len(vals))
		}
	}
}

func FuzzBDB(f *testing.F) {
	f.Add(make([]byte, 4096))
	if db := corpusBDB(f); db != nil {
		f.Add(db)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := bdbValues(b)
		if err != nil {
			return
		}
		// What reads without an error reads whole: as many pairs as the
		// database declares, every value within the file.
		if len(b) >= 92 {
			bo := binary.ByteOrder(binary.LittleEndian)
			if binary.BigEndian.Uint32(b[12:]) == bdbHashMagic {
				bo = binary.BigEndian
			}
			if n := int(bo.Uint32(b[88:])); n > 0 && len(vals) > n {
				t.Fatalf("%d values of %d declared pairs", len(vals), n)
			}
		}
		total := 0
		for _, v := range vals {
			total += len(v)
			parseHeader(v)
		}
		if total > len(b)*2 {
			t.Fatalf("%d bytes of values from a %d-byte file", total, len(b))
		}
	})
}

func FuzzHeader(f *testing.F) {
	f.Add(mkHeader(map[int32]string{tagName: "a", tagVersion: "1"}))
	f.Fuzz(func(t *testing.T, b []byte) { parseHeader(b) })
}
