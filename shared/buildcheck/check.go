package buildcheck

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/layerscan/layerscan/shared/redact"
	"github.com/layerscan/layerscan/shared/scan"
)

// Image is the part of an image config the checks read.
type Image struct {
	User        string
	Env         []string
	Cmd         []string
	Entrypoint  []string
	Healthcheck bool
	Volumes     []string
}

type finding struct {
	id, alias string
	sev       scan.Severity
	title     string
	fix       string
}

var checks = map[string]finding{
	"LS-BUILD-MAINTAINER":       {"LS-BUILD-MAINTAINER", "DL4000", scan.Low, "Deprecated MAINTAINER instruction", "Use LABEL org.opencontainers.image.authors=… instead of MAINTAINER."},
	"LS-BUILD-USER-ROOT":        {"LS-BUILD-USER-ROOT", "CIS-DI-0001", scan.Medium, "The image runs as root: no non-root USER", "Create an unprivileged user and end the Dockerfile with USER <name>."},
	"LS-BUILD-APP-AS-ROOT":      {"LS-BUILD-APP-AS-ROOT", "", scan.High, "The application starts as root", "Run the application as an unprivileged user (USER), and drop capabilities it does not need."},
	"LS-BUILD-ADD":              {"LS-BUILD-ADD", "CIS-DI-0009", scan.Low, "ADD used where COPY would do", "Use COPY for local files; ADD also unpacks archives and fetches URLs, which hides what enters the image."},
	"LS-BUILD-ADD-REMOTE":       {"LS-BUILD-ADD-REMOTE", "CIS-DI-0009", scan.Medium, "ADD fetches a remote URL at build time", "Download with curl or wget over HTTPS in a RUN step and verify a checksum, or COPY a vetted file."},
	"LS-BUILD-ARG-SECRET":       {"LS-BUILD-ARG-SECRET", "DL3044", scan.High, "Secret passed as a build argument", "Build arguments are recorded in the image history, readable by anyone who can pull: pass secrets with RUN --mount=type=secret, and rotate this one."},
	"LS-BUILD-ENV-SECRET":       {"LS-BUILD-ENV-SECRET", "CIS-DI-0010", scan.High, "Secret stored in an environment variable", "Remove the secret from ENV (it is readable in the image config by anyone who can pull); pass it at run time from a secret store, and rotate it."},
	"LS-BUILD-TLS-NODE":         {"LS-BUILD-TLS-NODE", "", scan.High, "NODE_TLS_REJECT_UNAUTHORIZED=0 disables TLS certificate checks for Node.js", "Remove NODE_TLS_REJECT_UNAUTHORIZED=0; add the needed CA with NODE_EXTRA_CA_CERTS instead."},
	"LS-BUILD-TLS-PYTHON":       {"LS-BUILD-TLS-PYTHON", "", scan.High, "PYTHONHTTPSVERIFY=0 disables TLS certificate checks for Python", "Remove PYTHONHTTPSVERIFY=0; install the needed CA into the trust store."},
	"LS-BUILD-TLS-GIT":          {"LS-BUILD-TLS-GIT", "", scan.High, "Git TLS certificate checks are disabled", "Remove GIT_SSL_NO_VERIFY / http.sslVerify=false; configure http.sslCAInfo with the needed CA."},
	"LS-BUILD-TLS-NPM":          {"LS-BUILD-TLS-NPM", "", scan.High, "npm strict-ssl is disabled", "Remove NPM_CONFIG_STRICT_SSL=false / strict-ssl false; set cafile to the needed CA."},
	"LS-BUILD-TLS-CURL":         {"LS-BUILD-TLS-CURL", "", scan.Medium, "curl runs with -k/--insecure", "Drop -k/--insecure; pass --cacert with the needed CA."},
	"LS-BUILD-TLS-WGET":         {"LS-BUILD-TLS-WGET", "", scan.Medium, "wget runs with --no-check-certificate", "Drop --no-check-certificate; pass --ca-certificate with the needed CA."},
	"LS-BUILD-TLS-PIP":          {"LS-BUILD-TLS-PIP", "", scan.Medium, "pip trusts a host without TLS checks (--trusted-host)", "Drop --trusted-host and serve the index over verified HTTPS."},
	"LS-BUILD-PIPE-TO-SHELL":    {"LS-BUILD-PIPE-TO-SHELL", "", scan.Medium, "A download is piped straight into a shell", "Download to a file, verify its checksum or signature, then run it."},
	"LS-BUILD-PIPE-HTTP":        {"LS-BUILD-PIPE-HTTP", "", scan.High, "A script fetched over plain HTTP is piped into a shell", "Fetch over HTTPS, verify a checksum or signature, then run it: over HTTP anyone on the path can replace the script."},
	"LS-BUILD-APT-UNPINNED":     {"LS-BUILD-APT-UNPINNED", "DL3008", scan.Low, "apt-get install without pinned versions", "Pin versions (pkg=1.2.3-1) so that rebuilds install what was reviewed."},
	"LS-BUILD-APT-CLI":          {"LS-BUILD-APT-CLI", "DL3027", scan.Low, "apt (the interactive front end) used in RUN", "Use apt-get or apt-cache in scripts; apt's interface is not stable."},
	"LS-BUILD-APT-LISTS":        {"LS-BUILD-APT-LISTS", "DKL-DI-0005", scan.Low, "apt lists are not cleaned after apt-get install", "End the same RUN with rm -rf /var/lib/apt/lists/*."},
	"LS-BUILD-UPDATE-ALONE":     {"LS-BUILD-UPDATE-ALONE", "CIS-DI-0007", scan.Low, "Package index update alone in a RUN", "Run update and install in the same RUN, so a cached update layer never feeds a later install."},
	"LS-BUILD-DIST-UPGRADE":     {"LS-BUILD-DIST-UPGRADE", "DKL-DI-0003", scan.Low, "apt-get dist-upgrade in the image build", "Rebuild on a newer base image instead of upgrading the distribution inside it."},
	"LS-BUILD-APK-CACHE":        {"LS-BUILD-APK-CACHE", "DKL-DI-0004", scan.Low, "apk add without --no-cache", "Use apk add --no-cache so the index is not kept in the layer."},
	"LS-BUILD-SUDO":             {"LS-BUILD-SUDO", "DKL-DI-0001", scan.Medium, "sudo used in the build", "Drop sudo: build steps already run as the USER in effect; switch USER explicitly where needed."},
	"LS-BUILD-NO-HEALTHCHECK":   {"LS-BUILD-NO-HEALTHCHECK", "CIS-DI-0006", scan.Low, "No HEALTHCHECK", "Add a HEALTHCHECK so the runtime can restart an unhealthy container."},
	"LS-BUILD-SENSITIVE-VOLUME": {"LS-BUILD-SENSITIVE-VOLUME", "DKL-DI-0002", scan.Medium, "VOLUME on a sensitive host path", "Do not declare volumes on system directories or the Docker socket."},
	"LS-BUILD-EXPOSE-SSH":       {"LS-BUILD-EXPOSE-SSH", "", scan.Low, "The image exposes SSH (22/tcp)", "Do not run sshd in containers; use the orchestrator's exec or a bastion."},
}

var (
	curlInsecureRe = regexp.MustCompile(`\bcurl\b[^|;&]*\s(?:-[a-zA-Z]*k[a-zA-Z]*|--insecure)\b`)
	wgetInsecureRe = regexp.MustCompile(`\bwget\b[^|;&]*\s--no-check-certificate\b`)
	pipeShellRe    = regexp.MustCompile(`\b(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+)?(?:/bin/|/usr/bin/)?(?:ba|da|z)?sh\b`)
	httpURLRe      = regexp.MustCompile(`\bhttp://`)
	aptInstallRe   = regexp.MustCompile(`\bapt-get\s+(?:-\S+\s+)*install\b([^;&|]*)`)
	aptCLIRe       = regexp.MustCompile(`(?:^|[;&|]\s*|\s)apt\s+(?:-\S+\s+)*(?:install|update|upgrade|remove|full-upgrade)\b`)
	updateRe       = regexp.MustCompile(`\b(?:apt-get|apt|yum|dnf|apk)\s+(?:-\S+\s+)*update\b`)
	installRe      = regexp.MustCompile(`\b(?:apt-get|apt|yum|dnf|apk|zypper)\s+(?:-\S+\s+)*(?:install|add|upgrade|dist-upgrade|full-upgrade)\b`)
	distUpgradeRe  = regexp.MustCompile(`\bapt-get\s+(?:-\S+\s+)*dist-upgrade\b`)
	apkAddRe       = regexp.MustCompile(`\bapk\s+(?:-\S+\s+)*add\b([^;&|]*)`)
	sudoRe         = regexp.MustCompile(`(?:^|[;&|]\s*)sudo\s`)
	gitNoVerifyRe  = regexp.MustCompile(`(?i)http\.sslverify[ =]+false`)
	npmStrictRe    = regexp.MustCompile(`(?i)\b(?:npm|yarn)\s+config\s+set\s+strict-ssl\s+false`)
	pipTrustedRe   = regexp.MustCompile(`\bpip3?\b[^;&|]*--trusted-host\b`)
)

var sensitiveVolumes = map[string]bool{"/": true, "/boot": true, "/dev": true, "/etc": true, "/lib": true, "/proc": true, "/sys": true, "/usr": true, "/root": true, "/var/run/docker.sock": true, "/run/docker.sock": true}

// checker gathers the findings of one Check.
type checker struct {
	out     []scan.Finding
	seenEnv map[string]bool
	// hasUser and hasHealth: a USER or HEALTHCHECK instruction was seen;
	// baseAdd: no layer was made yet, so an ADD is the base file system.
	hasUser, hasHealth, baseAdd bool
}

func (c *checker) add(id string, in Instruction, evidence string) {
	c.out = append(c.out, newFinding(id, in, evidence))
}

func newFinding(id string, in Instruction, evidence string) scan.Finding {
	k := checks[id]
	f := scan.Finding{
		Category: scan.BuildInstruction, ID: k.id, Severity: k.sev, Title: k.title,
		Remediation: k.fix, LayerDiffID: in.LayerDiffID, Evidence: evidence,
	}
	if k.alias != "" {
		f.Aliases = []string{k.alias}
	}
	return f
}

func cite(in Instruction) string {
	return in.Where + ": " + in.Cmd + " " + redact.Clip(MaskLine(in.Args), 160)
}

// env checks one variable, once per name and value.
func (c *checker) env(in Instruction, k, v string) {
	if c.seenEnv[k+"="+v] {
		return
	}
	c.seenEnv[k+"="+v] = true
	where := in.Where
	if where == "" {
		where = "config.Env"
	}
	switch id := tlsEnv(k, v); {
	case id != "":
		c.add(id, in, fmt.Sprintf("%s: %s=%s", where, k, v))
	case SensitiveName(k) && v != "" || SecretValue(v):
		c.add("LS-BUILD-ENV-SECRET", in, fmt.Sprintf("%s: %s=%s", where, k, redact.Mask(v)))
	}
}

// buildArg checks one build argument BuildKit recorded in the history.
func (c *checker) buildArg(in Instruction, k, v string) {
	if SensitiveName(k) && v != "" || SecretValue(v) {
		c.add("LS-BUILD-ARG-SECRET", in, fmt.Sprintf("%s: build argument %s=%s", in.Where, k, redact.Mask(v)))
	}
}

// instructionRules are the checks of each instruction, by its name.
var instructionRules = map[string]func(*checker, Instruction){
	"MAINTAINER": func(c *checker, in Instruction) { c.add("LS-BUILD-MAINTAINER", in, cite(in)) },
	"USER":       func(c *checker, _ Instruction) { c.hasUser = true },
	"HEALTHCHECK": func(c *checker, in Instruction) {
		c.hasHealth = c.hasHealth || !strings.EqualFold(strings.TrimSpace(in.Args), "NONE")
	},
	"ADD": func(c *checker, in Instruction) {
		remote := false
		for _, s := range strings.Fields(in.Args) {
			if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
				remote = true
			}
		}
		switch {
		case remote:
			c.add("LS-BUILD-ADD-REMOTE", in, cite(in))
		case c.baseAdd && strings.HasPrefix(in.Args, "file:") && strings.HasSuffix(strings.TrimSpace(in.Args), " in /"):
			// The base image's root file system: every base is built so.
		default:
			c.add("LS-BUILD-ADD", in, cite(in))
		}
	},
	"ENV": func(c *checker, in Instruction) {
		for _, kv := range envPairs(in.Args) {
			c.env(in, kv[0], kv[1])
		}
	},
	"VOLUME": func(c *checker, in Instruction) {
		for _, v := range strings.Fields(strings.NewReplacer(",", " ", `"`, " ", "[", " ", "]", " ").Replace(in.Args)) {
			if sensitiveVolumes[strings.TrimSuffix(v, "/")] || v == "/" {
				c.add("LS-BUILD-SENSITIVE-VOLUME", in, cite(in))
			}
		}
	},
	"EXPOSE": func(c *checker, in Instruction) {
		for _, p := range strings.Fields(in.Args) {
			if p == "22" || p == "22/tcp" {
				c.add("LS-BUILD-EXPOSE-SSH", in, cite(in))
			}
		}
	},
	"RUN": func(c *checker, in Instruction) {
		for _, kv := range in.BuildArgs {
			c.buildArg(in, kv[0], kv[1])
		}
		c.out = append(c.out, checkRun(in, cite(in))...)
	},
}

// Check runs every build-instruction check. Findings carry the instruction's
// place ("history[9]", "Dockerfile:12") in Evidence and its layer.
func Check(instrs []Instruction, img Image) []scan.Finding {
	c := &checker{seenEnv: map[string]bool{}, hasHealth: img.Healthcheck, baseAdd: true}
	for _, in := range instrs {
		if rule := instructionRules[in.Cmd]; rule != nil {
			rule(c, in)
		}
		if in.LayerDiffID != "" || in.Cmd == "FROM" {
			c.baseAdd = false
		}
	}
	c.config(img)
	return c.out
}

// config checks the image config: its environment, user and health check.
func (c *checker) config(img Image) {
	for _, kv := range img.Env {
		k, v, _ := strings.Cut(kv, "=")
		c.env(Instruction{}, k, v)
	}
	root := img.User == "" || img.User == "root" || img.User == "0" || strings.HasPrefix(img.User, "root:") || strings.HasPrefix(img.User, "0:")
	if root {
		ev := "config.User is empty: no USER instruction"
		if img.User != "" {
			ev = "config.User is " + img.User
		} else if c.hasUser {
			ev = "config.User is empty"
		}
		c.add("LS-BUILD-USER-ROOT", Instruction{}, ev)
		if cmd := strings.TrimSpace(strings.Join(append(append([]string{}, img.Entrypoint...), img.Cmd...), " ")); cmd != "" && !isShell(cmd) {
			c.add("LS-BUILD-APP-AS-ROOT", Instruction{}, "runs "+redact.Clip(cmd, 120)+" as "+userName(img.User))
		}
	}
	if !c.hasHealth {
		c.add("LS-BUILD-NO-HEALTHCHECK", Instruction{}, "no HEALTHCHECK in the image config")
	}
}

// runRules are the checks of a RUN line: each names the check its line
// trips, or "".
var runRules = []func(a string) string{
	when("LS-BUILD-TLS-CURL", curlInsecureRe.MatchString),
	when("LS-BUILD-TLS-WGET", wgetInsecureRe.MatchString),
	when("LS-BUILD-TLS-GIT", func(a string) bool {
		return gitNoVerifyRe.MatchString(a) || strings.Contains(a, "GIT_SSL_NO_VERIFY=") && !strings.Contains(a, "GIT_SSL_NO_VERIFY=0")
	}),
	when("LS-BUILD-TLS-NPM", npmStrictRe.MatchString),
	when("LS-BUILD-TLS-PIP", pipTrustedRe.MatchString),
	when("LS-BUILD-TLS-NODE", func(a string) bool { return strings.Contains(a, "NODE_TLS_REJECT_UNAUTHORIZED=0") }),
	when("LS-BUILD-TLS-PYTHON", func(a string) bool { return strings.Contains(a, "PYTHONHTTPSVERIFY=0") }),
	func(a string) string {
		switch m := pipeShellRe.FindString(a); {
		case m == "":
			return ""
		case httpURLRe.MatchString(m):
			return "LS-BUILD-PIPE-HTTP"
		default:
			return "LS-BUILD-PIPE-TO-SHELL"
		}
	},
	when("LS-BUILD-APT-UNPINNED", func(a string) bool {
		for _, m := range aptInstallRe.FindAllStringSubmatch(a, -1) {
			if unpinned(m[1]) {
				return true
			}
		}
		return false
	}),
	when("LS-BUILD-APT-LISTS", func(a string) bool {
		return aptInstallRe.MatchString(a) && !strings.Contains(a, "/var/lib/apt/lists")
	}),
	when("LS-BUILD-APT-CLI", aptCLIRe.MatchString),
	when("LS-BUILD-UPDATE-ALONE", func(a string) bool { return updateRe.MatchString(a) && !installRe.MatchString(a) }),
	when("LS-BUILD-DIST-UPGRADE", distUpgradeRe.MatchString),
	when("LS-BUILD-APK-CACHE", func(a string) bool {
		for _, m := range apkAddRe.FindAllStringSubmatch(a, -1) {
			if !strings.Contains(m[0], "--no-cache") {
				return true
			}
		}
		return false
	}),
	when("LS-BUILD-SUDO", sudoRe.MatchString),
}

func when(id string, match func(string) bool) func(string) string {
	return func(a string) string {
		if match(a) {
			return id
		}
		return ""
	}
}

func checkRun(in Instruction, ev string) []scan.Finding {
	// The lines of a heredoc script are commands of their own.
	a := strings.ReplaceAll(in.Args, "\n", " ; ")
	var out []scan.Finding
	for _, rule := range runRules {
		if id := rule(a); id != "" {
			out = append(out, newFinding(id, in, ev))
		}
	}
	return out
}

// unpinned is true when an apt-get install argument list names a package
// without "=version".
func unpinned(args string) bool {
	for _, w := range strings.Fields(args) {
		if strings.HasPrefix(w, "-") || strings.ContainsAny(w, "=$") {
			continue
		}
		return true
	}
	return false
}

// tlsEnv names the check an environment variable trips, if any.
func tlsEnv(k, v string) string {
	lv := strings.ToLower(strings.Trim(v, `"'`))
	switch strings.ToUpper(k) {
	case "NODE_TLS_REJECT_UNAUTHORIZED":
		if lv == "0" {
			return "LS-BUILD-TLS-NODE"
		}
	case "PYTHONHTTPSVERIFY":
		if lv == "0" {
			return "LS-BUILD-TLS-PYTHON"
		}
	case "GIT_SSL_NO_VERIFY":
		if lv != "" && lv != "0" && lv != "false" {
			return "LS-BUILD-TLS-GIT"
		}
	case "NPM_CONFIG_STRICT_SSL":
		if lv == "false" || lv == "0" {
			return "LS-BUILD-TLS-NPM"
		}
	}
	return ""
}

// envPairs splits "A=b C=d" and the legacy "A b c" form of ENV.
func envPairs(args string) [][2]string {
	args = strings.TrimSpace(args)
	if args == "" {
		return nil
	}
	first := strings.Fields(args)[0]
	if !strings.Contains(first, "=") {
		k, v, _ := strings.Cut(args, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}
	}
	var out [][2]string
	for _, w := range shellWords(args) {
		if k, v, ok := strings.Cut(w, "="); ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// shellWords splits on spaces outside quotes and drops the quotes.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
		case quote == 0 && r == ' ':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

var benignSuffix = map[string]bool{"FILE": true, "PATH": true, "DIR": true, "LENGTH": true, "LEN": true, "MIN": true, "MAX": true, "POLICY": true}

// SensitiveName is true for variable names that hold credentials:
// DB_PASSWORD, MYSQL_ROOT_PASSWORD, API_KEY, AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN.
// Names that point at a secret (…_FILE, …_PATH) do not.
func SensitiveName(name string) bool {
	toks := strings.FieldsFunc(strings.ToUpper(name), func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	if len(toks) == 0 || benignSuffix[toks[len(toks)-1]] {
		return false
	}
	for i, t := range toks {
		switch t {
		case "PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS", "APIKEY", "SECRETKEY", "ACCESSKEY":
			return true
		case "PWD":
			if len(toks) > 1 {
				return true
			}
		case "KEY":
			if i > 0 && (toks[i-1] == "API" || toks[i-1] == "ACCESS" || toks[i-1] == "PRIVATE" || toks[i-1] == "SECRET") {
				return true
			}
		}
	}
	return false
}

var secretValueRe = regexp.MustCompile(`<redacted secret[^>]*>|\bLTAI[A-Za-z0-9]{12,20}\b|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36}\b|\bglpat-[A-Za-z0-9_-]{20}\b|\bxox[baprs]-[A-Za-z0-9-]{10,}|\bnpm_[A-Za-z0-9]{36}\b|-----BEGIN [A-Z ]*PRIVATE KEY`)

// SecretValue is true for values that look like a credential whatever the name.
func SecretValue(v string) bool { return secretValueRe.MatchString(v) }

// userinfoRe finds the password of URL userinfo (scheme://user:pass@host).
var userinfoRe = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)@`)

// credFlags take a credential as their value: user:password (masked when
// it has the colon: "useradd -u 1000" is no secret), or a password.
var credFlags = map[string]bool{"-u": true, "--user": true, "--proxy-user": true, "--password": true, "--http-password": true, "--ftp-password": true}

// MaskLine masks what a shell or history line shows of secrets before it is
// quoted anywhere: NAME=value pairs of sensitive names, token-shaped values,
// URL userinfo passwords, and the values of credential flags (curl -u
// user:pass, --password=…). Whitespace is kept as it was.
func MaskLine(s string) string {
	s = secretValueRe.ReplaceAllStringFunc(s, redact.Mask)
	s = userinfoRe.ReplaceAllString(s, "${1}****@")
	var out strings.Builder
	prevFlag := ""
	for _, w := range strings.SplitAfter(s, " ") {
		word := strings.TrimRight(w, " ")
		tail := w[len(word):]
		switch {
		case prevFlag != "" && word != "":
			word = maskCred(prevFlag, word)
		case strings.Contains(word, "="):
			k, v, _ := strings.Cut(word, "=")
			switch {
			case v != "" && SensitiveName(strings.TrimLeft(k, "-")):
				word = k + "=" + redact.Mask(v)
			case v != "" && credFlags[k]:
				word = k + "=" + maskCred(k, v)
			}
		}
		switch {
		case credFlags[word]:
			prevFlag = word
		case word != "":
			prevFlag = ""
		}
		out.WriteString(word + tail)
	}
	return out.String()
}

// maskCred masks a credential flag's value: the password of user:pass, or
// a password flag's whole value.
func maskCred(flag, v string) string {
	if u, _, ok := strings.Cut(v, ":"); ok {
		return u + ":****"
	}
	if strings.Contains(flag, "password") {
		return redact.Mask(v)
	}
	return v
}

func isShell(cmd string) bool {
	first := strings.Fields(cmd)[0]
	switch first[strings.LastIndexByte(first, '/')+1:] {
	case "sh", "bash", "ash", "dash", "zsh":
		return !strings.Contains(cmd, " -c ")
	}
	return false
}

func userName(u string) string {
	if u == "" {
		return "root (no USER)"
	}
	return u
}

// RedactConfig returns an image config with its secrets masked, for
// keeping in the store: environment values of sensitive names or
// token-shaped values become "<redacted secret …>" (which Check still
// reports), and history lines are masked as MaskLine does. Everything else
// is kept as it was.
func RedactConfig(raw []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	for _, section := range []string{"config", "container_config"} {
		b, ok := doc[section]
		if !ok || string(b) == "null" {
			continue
		}
		var c map[string]json.RawMessage
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", section, err)
		}
		var env []string
		if e, ok := c["Env"]; ok && json.Unmarshal(e, &env) == nil {
			for i, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				if v != "" && (SensitiveName(k) || SecretValue(v)) {
					env[i] = k + "=<redacted secret " + redact.Mask(v) + ">"
				}
			}
			c["Env"], _ = json.Marshal(env)
		}
		for _, field := range []string{"Cmd", "Entrypoint"} {
			var words []string
			if w, ok := c[field]; ok && json.Unmarshal(w, &words) == nil {
				for i := range words {
					words[i] = MaskLine(words[i])
				}
				c[field], _ = json.Marshal(words)
			}
		}
		doc[section], _ = json.Marshal(c)
	}
	if h, ok := doc["history"]; ok {
		var hist []map[string]json.RawMessage
		if json.Unmarshal(h, &hist) == nil {
			for _, e := range hist {
				var line string
				if b, ok := e["created_by"]; ok && json.Unmarshal(b, &line) == nil {
					e["created_by"], _ = json.Marshal(MaskLine(line))
				}
			}
			doc["history"], _ = json.Marshal(hist)
		}
	}
	return json.Marshal(doc)
}
