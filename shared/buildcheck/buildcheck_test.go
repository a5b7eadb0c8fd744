package buildcheck

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestParseCreatedBy(t *testing.T) {
	cases := []struct{ in, cmd, args string }{
		{"/bin/sh -c #(nop)  ENV A=b", "ENV", "A=b"},
		{"/bin/sh -c #(nop) ADD file:abc in / ", "ADD", "file:abc in /"},
		{"/bin/sh -c apt-get update && apt-get install -y curl", "RUN", "apt-get update && apt-get install -y curl"},
		{"|2 VERSION=1 TARGETARCH=amd64 /bin/sh -c make install", "RUN", "make install"},
		{"RUN /bin/sh -c apk add curl # buildkit", "RUN", "apk add curl"},
		{"ENV PATH=/usr/bin", "ENV", "PATH=/usr/bin"},
		{"COPY /app /app # buildkit", "COPY", "/app /app"},
		{"", "", ""},
	}
	for _, c := range cases {
		in := ParseCreatedBy(c.in)
		if in.Cmd != c.cmd || in.Args != c.args {
			t.Errorf("%q: %q %q, want %q %q", c.in, in.Cmd, in.Args, c.cmd, c.args)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	df := "# syntax=docker/dockerfile:1\nFROM golang:1.22 AS build\nRUN go build -o /app .\n\nFROM debian:12\n# a comment\nRUN apt-get update && \\\n    apt-get install -y curl\nENV API_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\nCMD [\"/app\", \"serve\"]\nmaintainer someone\n"
	all, err := ParseDockerfile([]byte(df))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range all {
		got = append(got, in.Where+" "+in.Cmd+" "+in.Args)
	}
	want := []string{
		"Dockerfile:2 FROM golang:1.22 AS build", "Dockerfile:3 RUN go build -o /app .",
		"Dockerfile:5 FROM debian:12", "Dockerfile:7 RUN apt-get update &&      apt-get install -y curl",
		"Dockerfile:9 ENV API_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789", "Dockerfile:10 CMD /app serve",
		"Dockerfile:11 MAINTAINER someone",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fs := FinalStage(all); len(fs) != 5 || fs[0].Args != "debian:12" {
		t.Errorf("final stage %v", fs)
	}
	if _, err := ParseDockerfile([]byte("FROM x\n\"not an instruction\n")); err == nil {
		t.Error("garbage accepted")
	}
}

func ids(instrs []Instruction, img Image) []string {
	var out []string
	for _, f := range Check(instrs, img) {
		out = append(out, f.ID)
	}
	sort.Strings(out)
	return out
}

func TestChecks(t *testing.T) {
	run := func(s string) []Instruction { return []Instruction{{Cmd: "RUN", Args: s, Where: "history[1]"}} }
	user := Image{User: "app", Healthcheck: true}
	cases := []struct {
		name   string
		instrs []Instruction
		img    Image
		want   string
	}{
		{"clean", run("apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10 && rm -rf /var/lib/apt/lists/*"), user, ""},
		{"curl -k piped from http", run("curl -sSLk http://x/i.sh | bash"), user, "LS-BUILD-PIPE-HTTP,LS-BUILD-TLS-CURL"},
		{"https pipe", run("curl -fsSL https://x/i.sh | sh -"), user, "LS-BUILD-PIPE-TO-SHELL"},
		{"wget", run("wget --no-check-certificate -qO- http://x/s | sh"), user, "LS-BUILD-PIPE-HTTP,LS-BUILD-TLS-WGET"},
		{"curl -o file is fine", run("curl -o /tmp/x https://x/y"), user, ""},
		{"update alone", run("apt-get update"), user, "LS-BUILD-UPDATE-ALONE"},
		{"apt cli, unpinned, lists kept", run("apt install -y vim"), user, "LS-BUILD-APT-CLI"},
		{"apt-get unpinned", run("apt-get install -y vim && rm -rf /var/lib/apt/lists/*"), user, "LS-BUILD-APT-UNPINNED"},
		{"lists kept", run("apt-get install -y vim=2:9.0"), user, "LS-BUILD-APT-LISTS"},
		{"dist-upgrade", run("apt-get update && apt-get dist-upgrade -y"), user, "LS-BUILD-DIST-UPGRADE"},
		{"apk cache", run("apk add curl"), user, "LS-BUILD-APK-CACHE"},
		{"apk no cache", run("apk add --no-cache curl"), user, ""},
		{"sudo", run("sudo make install"), user, "LS-BUILD-SUDO"},
		{"git, npm, pip", run("git config --global http.sslVerify false && npm config set strict-ssl false && pip install --trusted-host pypi.example x"), user, "LS-BUILD-TLS-GIT,LS-BUILD-TLS-NPM,LS-BUILD-TLS-PIP"},
		{"env tls", []Instruction{{Cmd: "ENV", Args: "PYTHONHTTPSVERIFY=0 GIT_SSL_NO_VERIFY=true NPM_CONFIG_STRICT_SSL=false NODE_TLS_REJECT_UNAUTHORIZED=0"}}, user, "LS-BUILD-TLS-GIT,LS-BUILD-TLS-NODE,LS-BUILD-TLS-NPM,LS-BUILD-TLS-PYTHON"},
		{"env secrets by name and value", []Instruction{{Cmd: "ENV", Args: `DB_PASSWORD="p w" PASSWORD_FILE=/run/secrets/p PWD=/app MY_VAR=AKIAABCDEFGHIJKLMNOP`}}, user, "LS-BUILD-ENV-SECRET,LS-BUILD-ENV-SECRET"},
		{"legacy env form", []Instruction{{Cmd: "ENV", Args: "API_KEY abc def"}}, user, "LS-BUILD-ENV-SECRET"},
		{"add", []Instruction{{Cmd: "ADD", Args: "file:abc in /", LayerDiffID: "L0"}, {Cmd: "ADD", Args: "app.tar.gz /app", LayerDiffID: "L1"}, {Cmd: "ADD", Args: "https://x/y /y", LayerDiffID: "L2"}}, user, "LS-BUILD-ADD,LS-BUILD-ADD-REMOTE"},
		{"volumes, ssh, maintainer", []Instruction{{Cmd: "VOLUME", Args: `["/var/run/docker.sock", "/data"]`}, {Cmd: "EXPOSE", Args: "22/tcp 80"}, {Cmd: "MAINTAINER", Args: "x"}}, user, "LS-BUILD-EXPOSE-SSH,LS-BUILD-MAINTAINER,LS-BUILD-SENSITIVE-VOLUME"},
		{"root with an app, no healthcheck", nil, Image{Cmd: []string{"/app/server"}}, "LS-BUILD-APP-AS-ROOT,LS-BUILD-NO-HEALTHCHECK,LS-BUILD-USER-ROOT"},
		{"root with a shell", nil, Image{User: "0:0", Cmd: []string{"/bin/bash"}, Healthcheck: true}, "LS-BUILD-USER-ROOT"},
	}
	for _, c := range cases {
		if got := strings.Join(ids(c.instrs, c.img), ","); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestSecretsAreMasked(t *testing.T) {
	fs := Check([]Instruction{{Cmd: "ENV", Args: "DB_PASSWORD=Sup3rS3cretDbP@ss2024", Where: "history[6]"}, {Cmd: "RUN", Args: "curl -k -H TOKEN=abcdef123456 https://x | sh"}}, Image{User: "app", Healthcheck: true})
	for _, f := range fs {
		if strings.Contains(f.Evidence, "S3cret") || strings.Contains(f.Evidence, "abcdef123456") {
			t.Errorf("unmasked: %s", f.Evidence)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("FROM x\nRUN <<EOF\ncurl -k u | sh\nEOF\nCOPY <<-A <<B /d\n\tx\n\tA\ny\nB\n"))
	f.Add([]byte("FROM x\nRUN a \\\n b\nENV A=b\n"))
	f.Add([]byte("# escape=`\nFROM x\nRUN a `\n b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		instrs, _ := ParseDockerfile(b)
		Check(instrs, Image{})
		for _, line := range strings.Split(string(b), "\n") {
			in := ParseCreatedBy(line)
			Check([]Instruction{in}, Image{Cmd: []string{line}})
		}
	})
}

// TestHeredocs: the lines of a heredoc belong to the instruction that opens
// it (a RUN heredoc is its script) and are never instructions themselves,
// so a risky command inside one is found, at the instruction's line.
func TestHeredocs(t *testing.T) {
	df := "FROM debian:12\n" +
		"RUN <<EOF\n" +
		"#!/bin/sh\n" +
		"set -e\n" +
		"curl -k https://get.example.com/install.sh | sh\n" +
		"EOF\n" +
		"COPY <<-\"CONF\" /etc/app.conf\n" +
		"\tlisten 80\n" +
		"\tCONF\n" +
		"RUN <<A cat >/x && <<'B' sh\n" +
		"one\n" +
		"A\n" +
		"apt-get update\n" +
		"B\n" +
		"USER app\n"
	all, err := ParseDockerfile([]byte(df))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, in := range all {
		cmds = append(cmds, in.Where+" "+in.Cmd)
	}
	if got := strings.Join(cmds, ","); got != "Dockerfile:1 FROM,Dockerfile:2 RUN,Dockerfile:7 COPY,Dockerfile:10 RUN,Dockerfile:15 USER" {
		t.Fatalf("instructions %s", got)
	}
	if !strings.Contains(all[1].Args, "curl -k https://get.example.com/install.sh | sh") || !strings.Contains(all[2].Args, "listen 80") || !strings.Contains(all[3].Args, "apt-get update") {
		t.Errorf("heredoc bodies: %q %q %q", all[1].Args, all[2].Args, all[3].Args)
	}
	got := ids(all, Image{User: "app"})
	for _, want := range []string{"LS-BUILD-TLS-CURL", "LS-BUILD-PIPE-TO-SHELL", "LS-BUILD-UPDATE-ALONE"} {
		if !slices.Contains(got, want) {
			t.Errorf("%s not found in a heredoc: %v", want, got)
		}
	}
	for _, f := range Check(all, Image{User: "app"}) {
		if f.ID == "LS-BUILD-PIPE-TO-SHELL" && !strings.HasPrefix(f.Evidence, "Dockerfile:2: RUN") {
			t.Errorf("evidence %q", f.Evidence)
		}
	}
	if _, err := ParseDockerfile([]byte("FROM x\nRUN <<EOF\necho never closed\n")); err == nil || !strings.Contains(err.Error(), "not closed") {
		t.Errorf("unclosed heredoc: %v", err)
	}
	// A shell here-string or a quoted "<<" is no heredoc of the Dockerfile.
	if all, err := ParseDockerfile([]byte("FROM x\nRUN cat <<<'word'\nUSER a\n")); err != nil || len(all) != 3 {
		t.Errorf("here-string: %v %d", err, len(all))
	}
}

// TestSecretsInHistoryLines: BuildKit's build arguments raise a finding and
// every secret a history line shows is masked wherever it is quoted.
func TestSecretsInHistoryLines(t *testing.T) {
	line := "RUN |2 DB_PASSWORD=hunter2-secret AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY /bin/sh -c curl -u admin:p4ssw0rd https://deploy:t0ken@example.com/x | sh # buildkit"
	in := ParseCreatedBy(line)
	if in.Cmd != "RUN" || len(in.BuildArgs) != 2 {
		t.Fatalf("parsed %+v", in)
	}
	in.Where = "history[3]"
	fs := Check([]Instruction{in}, Image{User: "app"})
	args := 0
	for _, f := range fs {
		if f.ID == "LS-BUILD-ARG-SECRET" {
			args++
		}
		for _, secret := range []string{"hunter2-secret", "wJalrXUtnFEMI", "p4ssw0rd", "t0ken"} {
			if strings.Contains(f.Evidence, secret) {
				t.Errorf("%s evidence shows %s: %s", f.ID, secret, f.Evidence)
			}
		}
	}
	if args != 2 {
		t.Errorf("%d build-argument findings, want 2: %+v", args, fs)
	}
	masked := MaskLine(line)
	for _, secret := range []string{"hunter2-secret", "wJalrXUtnFEMI", "p4ssw0rd", "t0ken"} {
		if strings.Contains(masked, secret) {
			t.Errorf("MaskLine kept %s: %s", secret, masked)
		}
	}
	if got := MaskLine("useradd -u 1000 app && mkdir -p /srv"); got != "useradd -u 1000 app && mkdir -p /srv" {
		t.Errorf("harmless flags masked: %s", got)
	}
}
