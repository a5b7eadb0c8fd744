// Package buildcheck finds risky build instructions in an image's history
// and config (no Dockerfile needed) or in a Dockerfile: deprecated and
// dangerous instructions, root users, secrets in ENV, TLS verification
// turned off, piping downloads into a shell, and the CIS / Dockle image
// checks.
package buildcheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Instruction is one build step, from history or from a Dockerfile.
type Instruction struct {
	// Cmd is the upper-case instruction: RUN, ENV, ADD, COPY, USER, …
	Cmd  string
	Args string
	// Where says where it came from: "history[3]" or "Dockerfile:12".
	Where string
	// LayerDiffID is the layer the step created, if any (history only).
	LayerDiffID string
}

var (
	nopRe      = regexp.MustCompile(`^/bin/(?:ba)?sh -c #\(nop\)\s*`)
	shellRe    = regexp.MustCompile(`^(?:\|\d+ (?:\S+=\S*\s+)*)?/bin/(?:ba)?sh -c\s+`)
	buildkitRe = regexp.MustCompile(`\s*# buildkit$`)
	keywordRe  = regexp.MustCompile(`^([A-Z]+)\s*(.*)$`)
	instrRe    = regexp.MustCompile(`^[A-Z]+$`)
)

// HistoryEntry is the part of an OCI history entry that matters here.
type HistoryEntry struct {
	CreatedBy  string `json:"created_by"`
	EmptyLayer bool   `json:"empty_layer"`
}

// FromHistory turns history entries into instructions. diffIDs are the
// image's layers bottom first; each non-empty entry created the next one.
func FromHistory(history []HistoryEntry, diffIDs []string) []Instruction {
	var out []Instruction
	layer := 0
	for i, h := range history {
		in := ParseCreatedBy(h.CreatedBy)
		in.Where = fmt.Sprintf("history[%d]", i)
		if !h.EmptyLayer {
			if layer < len(diffIDs) {
				in.LayerDiffID = diffIDs[layer]
			}
			layer++
		}
		if in.Cmd != "" {
			out = append(out, in)
		}
	}
	return out
}

// ParseCreatedBy reads one created_by line as written by the classic
// builder ("/bin/sh -c #(nop)  ENV A=b", "/bin/sh -c apt-get …"), BuildKit
// ("RUN /bin/sh -c … # buildkit", "ENV A=b") and others.
func ParseCreatedBy(s string) Instruction {
	s = buildkitRe.ReplaceAllString(strings.TrimSpace(s), "")
	if m := nopRe.FindStringIndex(s); m != nil {
		s = s[m[1]:]
	} else if m := shellRe.FindStringIndex(s); m != nil {
		return Instruction{Cmd: "RUN", Args: s[m[1]:]}
	}
	m := keywordRe.FindStringSubmatch(s)
	if m == nil {
		if s == "" {
			return Instruction{}
		}
		return Instruction{Cmd: "RUN", Args: s}
	}
	cmd, args := m[1], strings.TrimSpace(m[2])
	if cmd == "RUN" {
		if m := shellRe.FindStringIndex(args); m != nil {
			args = args[m[1]:]
		}
	}
	return Instruction{Cmd: cmd, Args: args}
}

// ParseDockerfile reads a Dockerfile: comments, line continuations (the
// escape character is \ or the one a "# escape=" directive sets), and the
// JSON form of arguments. Heredocs are kept as part of the RUN line.
func ParseDockerfile(b []byte) ([]Instruction, error) {
	var out []Instruction
	escape := `\`
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var cur strings.Builder
	start, n := 0, 0
	first := true
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimSpace(line)
		if first && strings.HasPrefix(strings.ToLower(trimmed), "# escape=") {
			escape = strings.TrimSpace(trimmed[len("# escape="):])
			continue
		}
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		first = false
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, escape) {
			cur.WriteString(strings.TrimSuffix(line, escape))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		in, err := parseLine(cur.String(), start)
		if err != nil {
			return out, err
		}
		out = append(out, in)
		cur.Reset()
	}
	if cur.Len() > 0 {
		in, err := parseLine(cur.String(), start)
		if err != nil {
			return out, err
		}
		out = append(out, in)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("dockerfile line %d: %w", n, err)
	}
	return out, nil
}

// FinalStage keeps the instructions of the last build stage: only they
// shape the image (earlier stages of a multi-stage build are discarded).
func FinalStage(instrs []Instruction) []Instruction {
	for i := len(instrs) - 1; i >= 0; i-- {
		if instrs[i].Cmd == "FROM" {
			return instrs[i:]
		}
	}
	return instrs
}

func parseLine(s string, line int) (Instruction, error) {
	s = strings.TrimSpace(s)
	cmd, args, _ := strings.Cut(s, " ")
	cmd = strings.ToUpper(cmd)
	if !instrRe.MatchString(cmd) {
		return Instruction{}, fmt.Errorf("dockerfile line %d: not an instruction: %q", line, s)
	}
	args = strings.TrimSpace(args)
	// JSON (exec) form: join the words as the shell would see them.
	if strings.HasPrefix(args, "[") {
		var words []string
		if json.Unmarshal([]byte(args), &words) == nil {
			args = strings.Join(words, " ")
		}
	}
	return Instruction{Cmd: cmd, Args: args, Where: fmt.Sprintf("Dockerfile:%d", line)}, nil
}
