package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// BerkeleyDB hash databases (the rpm "Packages" file before rpm 4.16) are
// read here rather than through go-rpmdb, whose reader takes only items on
// overflow pages and so drops packages whose header fits inline on a hash
// page (basesystem, almalinux-gpg-keys in the AlmaLinux 9 micro image).

const (
	bdbHashMagic     = 0x061561
	bdbPageHeaderLen = 26
	pageHash         = 13 // P_HASH
	pageHashUnsorted = 2  // P_HASH_UNSORTED, before BDB 4.6
	pageOverflow     = 7  // P_OVERFLOW
	pageInvalid      = 0  // P_INVALID: a free page
	itemKeyData      = 1  // H_KEYDATA: data inline
	itemOffPage      = 3  // H_OFFPAGE: data on an overflow chain
)

// bdbValues returns every data item of a BerkeleyDB hash database.
func bdbValues(db []byte) ([][]byte, error) {
	if len(db) < 72 {
		return nil, errors.New("berkeleydb: file too short")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch {
	case binary.LittleEndian.Uint32(db[12:]) == bdbHashMagic:
	case binary.BigEndian.Uint32(db[12:]) == bdbHashMagic:
		bo = binary.BigEndian
	default:
		return nil, errors.New("berkeleydb: not a hash database")
	}
	pageSize := int(bo.Uint32(db[20:]))
	if pageSize < 512 || pageSize > 64<<10 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("berkeleydb: bad page size %d", pageSize)
	}
	lastPage := int(bo.Uint32(db[32:]))
	if (lastPage+1)*pageSize > len(db) {
		return nil, fmt.Errorf("berkeleydb: truncated: %d pages declared, %d in the file", lastPage+1, len(db)/pageSize)
	}
	// nelem, the hash table's count of key/data pairs: what a database that
	// reads whole yields (rpm's key 0, the instance counter, included).
	nelem := int(bo.Uint32(db[88:]))
	page := func(n int) []byte { return db[n*pageSize : (n+1)*pageSize] }
	var out [][]byte
	pairs := 0
	for n := 1; n <= lastPage; n++ {
		p := page(n)
		switch p[25] {
		case pageHash, pageHashUnsorted:
		case pageOverflow, pageInvalid:
			continue // read through the items that point at them; free pages
		default:
			return nil, fmt.Errorf("berkeleydb: page %d has type %d, which a hash database does not hold", n, p[25])
		}
		entries := int(bo.Uint16(p[20:]))
		if bdbPageHeaderLen+2*entries > pageSize {
			return nil, fmt.Errorf("berkeleydb: page %d: %d entries do not fit", n, entries)
		}
		idx := make([]int, entries)
		for i := range idx {
			idx[i] = int(bo.Uint16(p[bdbPageHeaderLen+2*i:]))
		}
		pairs += entries / 2
		// Entries alternate key, data; the data items are the odd ones.
		for i := 1; i < entries; i += 2 {
			off := idx[i]
			end := pageSize
			if i > 0 {
				end = idx[i-1]
			}
			if off <= 0 || off >= pageSize || end > pageSize || end <= off {
				return nil, fmt.Errorf("berkeleydb: page %d: item %d out of bounds", n, i)
			}
			switch p[off] {
			case itemKeyData:
				out = append(out, p[off+1:end])
			case itemOffPage:
				if off+12 > pageSize {
					return nil, fmt.Errorf("berkeleydb: page %d: short off-page item", n)
				}
				v, err := bdbOverflow(db, bo, pageSize, int(bo.Uint32(p[off+4:])), int(bo.Uint32(p[off+8:])))
				if err != nil {
					return nil, fmt.Errorf("berkeleydb: page %d item %d: %w", n, i, err)
				}
				out = append(out, v)
			default:
				return nil, fmt.Errorf("berkeleydb: page %d item %d has type %d (rpm databases hold no duplicates)", n, i, p[off])
			}
		}
	}
	if nelem > 0 && pairs != nelem {
		return nil, fmt.Errorf("berkeleydb: %d of the %d records the database declares are readable: damaged", pairs, nelem)
	}
	return out, nil
}

// bdbOverflow follows an overflow chain of total length tlen from page pg.
func bdbOverflow(db []byte, bo binary.ByteOrder, pageSize, pg, tlen int) ([]byte, error) {
	if tlen > len(db) {
		return nil, fmt.Errorf("overflow length %d exceeds the file", tlen)
	}
	out := make([]byte, 0, tlen)
	for hops := 0; len(out) < tlen; hops++ {
		if pg <= 0 || (pg+1)*pageSize > len(db) || hops > len(db)/pageSize {
			return nil, fmt.Errorf("overflow chain broken at page %d", pg)
		}
		p := db[pg*pageSize : (pg+1)*pageSize]
		if p[25] != pageOverflow {
			return nil, fmt.Errorf("page %d is not an overflow page", pg)
		}
		n := int(bo.Uint16(p[22:])) // hf_offset holds the bytes used on an overflow page
		if bdbPageHeaderLen+n > pageSize {
			return nil, fmt.Errorf("overflow page %d claims %d bytes", pg, n)
		}
		out = append(out, p[bdbPageHeaderLen:bdbPageHeaderLen+n]...)
		pg = int(bo.Uint32(p[16:]))
	}
	return out[:tlen], nil
}

// header is the part of an rpm header layerscan reads.
type header struct {
	Name, Version, Release, Arch, SourceRPM string
	Epoch                                   *int
	// Files the package installed, absolute.
	Files []string
}

const (
	tagName      = 1000
	tagVersion   = 1001
	tagRelease   = 1002
	tagEpoch     = 1003
	tagArch      = 1022
	tagSourceRPM = 1044
	tagOldFiles  = 1027
	tagDirIndex  = 1116
	tagBaseNames = 1117
	tagDirNames  = 1118

	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9
)

// parseHeader reads an rpm header blob as stored in the database (index
// count, data length, index entries, data store; all big-endian).
func parseHeader(b []byte) (*header, error) {
	if len(b) < 8 {
		return nil, errors.New("rpm header: too short")
	}
	il, dl := int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:]))
	if il < 1 || il > 0xffff || dl < 0 || dl > 256<<20 || 8+16*il+dl > len(b) {
		return nil, fmt.Errorf("rpm header: bad sizes (%d entries, %d data bytes, %d available)", il, dl, len(b))
	}
	data := b[8+16*il : 8+16*il+dl]
	h := &header{}
	var dirIndex []int
	var baseNames, dirNames []string
	for i := 0; i < il; i++ {
		e := b[8+16*i:]
		tag, typ := int32(binary.BigEndian.Uint32(e)), binary.BigEndian.Uint32(e[4:])
		off := int(int32(binary.BigEndian.Uint32(e[8:])))
		count := int(binary.BigEndian.Uint32(e[12:]))
		if off < 0 || off >= len(data) {
			continue
		}
		str := func() string {
			if typ != typeString && typ != typeI18NString {
				return ""
			}
			s := data[off:]
			for j, c := range s {
				if c == 0 {
					return string(s[:j])
				}
			}
			return ""
		}
		switch tag {
		case tagName:
			h.Name = str()
		case tagVersion:
			h.Version = str()
		case tagRelease:
			h.Release = str()
		case tagArch:
			h.Arch = str()
		case tagSourceRPM:
			h.SourceRPM = str()
		case tagBaseNames:
			baseNames = strArray(data, off, count, typ)
		case tagDirNames:
			dirNames = strArray(data, off, count, typ)
		case tagOldFiles:
			h.Files = strArray(data, off, count, typ)
		case tagDirIndex:
			if typ == typeInt32 && count >= 0 && count <= (len(data)-off)/4 {
				dirIndex = make([]int, count)
				for j := range dirIndex {
					dirIndex[j] = int(binary.BigEndian.Uint32(data[off+4*j:]))
				}
			}
		case tagEpoch:
			if typ == typeInt32 && off+4 <= len(data) {
				v := int(int32(binary.BigEndian.Uint32(data[off:])))
				h.Epoch = &v
			}
		}
	}
	if h.Name == "" || h.Version == "" {
		return nil, errors.New("rpm header: no name or version")
	}
	if len(baseNames) == len(dirIndex) {
		for j, bn := range baseNames {
			if dirIndex[j] >= 0 && dirIndex[j] < len(dirNames) {
				h.Files = append(h.Files, dirNames[dirIndex[j]]+bn)
			}
		}
	}
	return h, nil
}

// strArray reads count NUL-terminated strings of a STRING_ARRAY entry.
func strArray(data []byte, off, count int, typ uint32) []string {
	if typ != typeStringArray || count < 0 || count > len(data)-off {
		return nil
	}
	out := make([]string, 0, count)
	s := data[off:]
	for len(out) < count {
		j := bytes.IndexByte(s, 0)
		if j < 0 {
			return nil
		}
		out = append(out, string(s[:j]))
		s = s[j+1:]
	}
	return out
}
