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
	// BuildArgs are the build arguments BuildKit records before a RUN
	// ("RUN |2 A=1 B=2 /bin/sh -c …"): visible to anyone who pulls.
	BuildArgs [][2]string
}

var (
	nopRe      = regexp.MustCompile(`^/bin/(?:ba)?sh -c #\(nop\)\s*`)
	shellRe    = regexp.MustCompile(`^(?:\|\d+ (?:\S+=\S*\s+)*)?/bin/(?:ba)?sh -c\s+`)
	argsRe     = regexp.MustCompile(`^\|\d+ ((?:\S+=\S*\s+)*)`)
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
		return Instruction{Cmd: "RUN", Args: s[m[1]:], BuildArgs: buildArgs(s)}
	}
	m := keywordRe.FindStringSubmatch(s)
	if m == nil {
		if s == "" {
			return Instruction{}
		}
		return Instruction{Cmd: "RUN", Args: s}
	}
	cmd, args := m[1], strings.TrimSpace(m[2])
	var bargs [][2]string
	if cmd == "RUN" {
		bargs = buildArgs(args)
		if m := shellRe.FindStringIndex(args); m != nil {
			args = args[m[1]:]
		}
	}
	return Instruction{Cmd: cmd, Args: args, BuildArgs: bargs}
}

// buildArgs reads the "|N K=V …" prefix of a BuildKit RUN history line.
func buildArgs(s string) [][2]string {
	m := argsRe.FindStringSubmatch(s)
	if m == nil {
		return nil
	}
	var out [][2]string
	for _, w := range strings.Fields(m[1]) {
		if k, v, ok := strings.Cut(w, "="); ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// heredocRe finds the heredoc markers of an instruction (<<EOF, <<-EOF,
// <<"EOF", <<'EOF'), which BuildKit reads on RUN, COPY and ADD.
// A third < makes a shell here-string, not a heredoc.
var heredocRe = regexp.MustCompile(`(?:^|[^<])<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)(["']?)`)

// heredocCmds take heredocs (Dockerfile syntax 1.4).
var heredocCmds = map[string]bool{"RUN": true, "COPY": true, "ADD": true}

// maxDockerfileLine bounds one physical line of a Dockerfile.
const maxDockerfileLine = 1 << 20

// ParseDockerfile reads a Dockerfile: comments, line continuations (the
// escape character is \ or the one a "# escape=" directive sets), the JSON
// form of arguments, and heredocs: the lines of each heredoc an
// instruction opens join its Args (a RUN heredoc is its script), and are
// never read as instructions of their own.
func ParseDockerfile(b []byte) ([]Instruction, error) {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), maxDockerfileLine)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dockerfile line %d: %w", len(lines)+1, err)
	}
	var out []Instruction
	escape := `\`
	var cur strings.Builder
	start := 0
	first := true
	for n := 0; n < len(lines); n++ {
		line := strings.TrimRight(lines[n], " \t\r")
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
			start = n + 1
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
		cur.Reset()
		if heredocCmds[in.Cmd] {
			if n, err = readHeredocs(&in, lines, n); err != nil {
				return out, err
			}
		}
		out = append(out, in)
	}
	if cur.Len() > 0 {
		in, err := parseLine(cur.String(), start)
		if err != nil {
			return out, err
		}
		out = append(out, in)
	}
	return out, nil
}

// readHeredocs appends to in.Args the body of every heredoc its line opens,
// in order, reading lines after lines[n]; it returns the index of the last
// line consumed.
func readHeredocs(in *Instruction, lines []string, n int) (int, error) {
	for _, m := range heredocRe.FindAllStringSubmatch(in.Args, -1) {
		if m[2] != m[4] {
			continue // unbalanced quotes: a shell redirection, not a heredoc
		}
		stripTabs, delim := m[1] == "-", m[3]
		var body []string
		for {
			n++
			if n >= len(lines) {
				return n, fmt.Errorf("%s: heredoc %s is not closed", in.Where, delim)
			}
			l := strings.TrimRight(lines[n], "\r")
			if stripTabs {
				l = strings.TrimLeft(l, "\t")
			}
			if l == delim {
				break
			}
			body = append(body, l)
		}
		in.Args += "\n" + strings.Join(body, "\n")
	}
	return n, nil
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
