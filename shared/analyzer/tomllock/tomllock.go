// Package tomllock reads the top-level string keys of the [[package]]
// tables in machine-written TOML lockfiles (Cargo.lock, poetry.lock,
// uv.lock, pdm.lock). Those files put one `key = "value"` per line, so a
// line reader is enough and keeps a TOML library out of every binary.
package tomllock

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Packages returns one map per [[package]] table, holding its string keys;
// other values (arrays, inline tables) are kept as their raw text.
func Packages(b []byte) ([]map[string]string, error) {
	var out []map[string]string
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
			continue
		case line == "[[package]]":
			cur = map[string]string{}
			out = append(out, cur)
			continue
		case line[0] == '[':
			cur = nil // a sub-table or another section ends the package's own keys
			continue
		}
		if cur == nil || (sc.Text()[0] == ' ' || sc.Text()[0] == '\t') {
			continue // continuation lines of multi-line arrays
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			s, err := strconv.Unquote(v)
			if err != nil {
				// TOML basic strings are close to Go's; a literal 'x' or an
				// unusual escape is kept raw rather than failing the file.
				s = strings.Trim(v, `"`)
			}
			v = s
		} else if strings.HasPrefix(v, "'") {
			v = strings.Trim(v, "'")
		}
		cur[k] = v
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("line %d: %w", n, err)
	}
	return out, nil
}
