package baseline

import (
	"context"
	"io/fs"
	"sort"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/analyzer"
)

func idsOf(t *testing.T, path string, mode fs.FileMode, body string) string {
	t.Helper()
	arts, err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: path, Mode: mode, Content: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range arts {
		for _, f := range a.Findings {
			ids = append(ids, f.ID)
			if f.Path != path || f.Category != "baseline" || f.Remediation == "" || f.Evidence == "" {
				t.Errorf("incomplete finding %+v", f)
			}
		}
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

func TestChecks(t *testing.T) {
	cases := []struct {
		name, path string
		mode       fs.FileMode
		body, want string
	}{
		{"locked accounts", "etc/shadow", 0o640, "root:*:19000:0:99999:7:::\ndaemon:!:1::::::\nx:!!:1::::::\n", ""},
		{"empty root", "etc/shadow", 0o640, "root:::0:::::\n", "LS-BASELINE-EMPTY-PASSWORD"},
		{"md5 of password", "etc/shadow", 0o640, "legacy:$1$Qx7vR2pL$6VyYTxEih9Dl6e/EFEEQX0:19800:0:99999:7:::\n", "LS-BASELINE-WEAK-HASH,LS-BASELINE-WEAK-PASSWORD"},
		{"sha512 of admin", "etc/shadow", 0o640, "ops:$6$saltsalt$ZxoUf1bJzACFdk9GZkBGmxXd3Rq8nUoGjgon4GVoI91SlW41Ew2djlh60PmWr4flwags.7ULrKVSSmnCEsIOj1:1::::::\n", "LS-BASELINE-WEAK-PASSWORD"},
		{"sha256 strong", "etc/shadow", 0o640, "ops:$5$saltsalt$mZ5E9awA0/Djl2A01heF/NGXKdwa3QjmtfQfogSXhO6:1::::::\n", ""},
		{"des", "etc/shadow", 0o640, "old:abJnggxhB/yWI:1::::::\n", "LS-BASELINE-WEAK-HASH"},
		{"rounds bomb is not tried", "etc/shadow", 0o640, "x:$6$rounds=5000000$abc$0lYk5Gl5xVoapp6paQ8LWOrTTaPbbQWSX6U/Mj4nFA7sDYYm7Vl.y7heg5zdEKWm.eWGPCgBlEvul9Hh66gVn0:1::::::\n", ""},
		{"passwd", "etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\na:x:1000:1000::/home/a:/bin/sh\nb:x:1000:1000::/home/b:/bin/sh\nnopw::1001:1001::/:/bin/sh\n", "LS-BASELINE-DUPLICATE-UID,LS-BASELINE-DUPLICATE-UID,LS-BASELINE-EMPTY-PASSWORD,LS-BASELINE-UID0"},
		{"group", "etc/group", 0o644, "root:x:0:\nwheel:x:10:\nadm:x:10:\n", "LS-BASELINE-DUPLICATE-GID"},
		{"sshd", "etc/ssh/sshd_config", 0o644, "# c\nPermitRootLogin yes\npermitrootlogin no\nPasswordAuthentication=yes\nPermitEmptyPasswords yes\nMatch User x\n  X11Forwarding yes\n", "LS-BASELINE-SSH-EMPTY-PASSWORDS,LS-BASELINE-SSH-PASSWORD-AUTH,LS-BASELINE-SSH-ROOT-LOGIN"},
		{"sshd safe", "etc/ssh/sshd_config.d/50-x.conf", 0o644, "PermitRootLogin prohibit-password\n", ""},
		{"sudoers", "etc/sudoers.d/app", 0o440, "Defaults !authenticate\napp ALL=(ALL) NOPASSWD: ALL\nops ALL=(ALL) NOPASSWD: /usr/bin/systemctl\n%wheel ALL=(ALL:ALL) NOPASSWD:ALL\n", "LS-BASELINE-SUDO-NOPASSWD,LS-BASELINE-SUDO-NOPASSWD"},
		{"usual suid", "usr/bin/passwd", 0o755 | fs.ModeSetuid, "", ""},
		{"unusual suid", "usr/local/bin/helper", 0o755 | fs.ModeSetuid, "", "LS-BASELINE-SUID"},
		{"writable suid", "usr/bin/passwd", 0o777 | fs.ModeSetuid, "", "LS-BASELINE-SUID-WRITABLE"},
		{"world-writable", "etc/app.conf", 0o666, "", "LS-BASELINE-WORLD-WRITABLE"},
		{"world-writable in tmp", "tmp/x", 0o666, "", ""},
		{"git metadata", "app/.git/HEAD", 0o644, "ref: refs/heads/main\n", "LS-BASELINE-UNNECESSARY-FILE"},
		{"ds_store", "app/static/.DS_Store", 0o644, "x", "LS-BASELINE-UNNECESSARY-FILE"},
	}
	for _, c := range cases {
		if !(Analyzer{}).Wants(c.path, c.mode) && c.want != "" {
			t.Errorf("%s: not wanted", c.name)
		}
		if got := idsOf(t, c.path, c.mode, c.body); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestEvidenceNeverHoldsAHash(t *testing.T) {
	arts, _ := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: "etc/shadow", Content: []byte("legacy:$1$Qx7vR2pL$6VyYTxEih9Dl6e/EFEEQX0:1::::::\n")})
	for _, f := range arts[0].Findings {
		if strings.Contains(f.Evidence, "6VyYTx") || strings.Contains(f.Evidence, `"password"`) {
			t.Errorf("evidence leaks: %s", f.Evidence)
		}
	}
}

func FuzzParsers(f *testing.F) {
	f.Add([]byte("root:$1$ab$cd:1::::::\nx::0:0::/:/bin/sh\n"))
	f.Add([]byte("PermitRootLogin yes\nMatch all\n"))
	f.Add([]byte("u ALL=(ALL) NOPASSWD: ALL\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		CheckShadow(ctx, b)
		CheckPasswd(b)
		CheckGroup(b)
		CheckSSHD(b)
		CheckSudoers(b)
	})
}
