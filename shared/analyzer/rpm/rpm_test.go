package rpm

import (
	"encoding/binary"
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

func FuzzBDB(f *testing.F) {
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, _ := bdbValues(b)
		for _, v := range vals {
			parseHeader(v)
		}
	})
}

func FuzzHeader(f *testing.F) {
	f.Add(mkHeader(map[int32]string{tagName: "a", tagVersion: "1"}))
	f.Fuzz(func(t *testing.T, b []byte) { parseHeader(b) })
}
