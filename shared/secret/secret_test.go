package secret

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

const rsaKey = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA9JIaXgD2ro3H4VFI9GQm5w/tb4LGshGP2938WsDa4dOoBxYs\nzRxy1O/ONDGhpfd65Isx/fvHuSTJWkoKP59/IcRv6qlXZj4hfjOJzAqCmA69YQZK\n-----END RSA PRIVATE KEY-----\n"

func scanIDs(p, body string) ([]string, []scan.Finding) {
	fs := Scan(p, []byte(body))
	var ids []string
	for _, f := range fs {
		ids = append(ids, string(f.Severity)+" "+f.ID)
	}
	sort.Strings(ids)
	return ids, fs
}

func TestRules(t *testing.T) {
	cases := []struct {
		name, path, body string
		want             []string
	}{
		{"rsa key", "root/.ssh/id_rsa", rsaKey, []string{"HIGH LS-SECRET-PRIVATE-KEY"}},
		{"openssh key", "home/a/.ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n", []string{"HIGH LS-SECRET-PRIVATE-KEY"}},
		{"pkcs8 key", "app/server.key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvuNMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n", []string{"HIGH LS-SECRET-PRIVATE-KEY"}},
		{"header in source code is not a key", "app/parse.go", `if strings.HasPrefix(s, "-----BEGIN RSA PRIVATE KEY-----") {`, nil},
		{"alibaba ak with secret", "opt/app/aliyun.properties", "aliyun.accessKeyId=LTAI5tQ8rXyZ3mN7pK2wV9bC\naliyun.accessKeySecret=Zk3Yq8Wm2Xp7Lr5Nv9Tb4Hc6Jd1Fs0\n", []string{"CRITICAL LS-SECRET-ALIBABA-AK"}},
		{"alibaba ak alone", "opt/app/notes.txt", "key LTAI5tQ8rXyZ3mN7pK2wV9bC\n", []string{"HIGH LS-SECRET-ALIBABA-AK"}},
		{"aliyun cli config", "root/.aliyun/config.json", `{"profiles":[{"name":"default","mode":"AK","access_key_id":"LTAI5tHn3Kp8Vw2Ym6Qr9Zx1","access_key_secret":"Wb6Nf3Hq9Lt2Vx8Kp5Rm1Zc7Gd4Js0"}]}`, []string{"CRITICAL LS-SECRET-ALIBABA-AK"}},
		{"aws credentials", "root/.aws/credentials", "[default]\naws_access_key_id = AKIAZ4XQ7P2LKJ8M3N5R\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYz8Q2m4Kd1x\n", []string{"CRITICAL LS-SECRET-AWS-ACCESS-KEY"}},
		{"gcp", "app/sa.json", `{"type": "service_account", "project_id": "p", "private_key_id": "1", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}`, []string{"CRITICAL LS-SECRET-GCP-SERVICE-ACCOUNT"}},
		{"azure", "app/conn.txt", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + strings.Repeat("Ab1+", 21) + "Ab==;EndpointSuffix=core.windows.net", []string{"CRITICAL LS-SECRET-AZURE-STORAGE-KEY"}},
		{"github", "app/deploy.sh", "export GH=ghp_" + strings.Repeat("a1B2", 9) + "\n", []string{"HIGH LS-SECRET-GITHUB-TOKEN"}},
		{"gitlab", "app/ci.sh", "TOKEN=glpat-abcdefghij0123456789\n", []string{"HIGH LS-SECRET-GITLAB-TOKEN"}},
		{"npmrc", "root/.npmrc", "//registry.npmjs.org/:_authToken=abcdef0123456789abcd\n", []string{"HIGH LS-SECRET-NPM-TOKEN"}},
		{"npmrc from env is fine", "root/.npmrc", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n", nil},
		{"docker config", "root/.docker/config.json", `{"auths":{"registry.example":{"auth":"dXNlcjpwYXNzd29yZA=="}}}`, []string{"HIGH LS-SECRET-DOCKER-AUTH"}},
		{"slack webhook", "app/hook.txt", "https://hooks.slack.com/services/T0000AAAA/B0000BBBB/abcdefghijklmnop\n", []string{"MEDIUM LS-SECRET-SLACK-TOKEN"}},
		{"jwt secret", "app/server.js", "const JWT_SECRET = 'k8s9Qw2LmZx7vB4n';\n", []string{"HIGH LS-SECRET-JWT-SECRET"}},
		{"jwt secret placeholder", "app/server.js", "const JWT_SECRET = process.env.JWT_SECRET;\n", nil},
		{"dotenv", "app/.env", "DB_HOST=db\nDB_PASSWORD=Sup3rS3cret!\nAPI_TOKEN=${TOKEN}\nSECRET_KEY=changeit\n", []string{"HIGH LS-SECRET-CONFIG-PASSWORD"}},
		{"spring", "app/application.yml", "spring:\n  datasource:\n    password: hunter2hunter2\n    username: app\n", []string{"HIGH LS-SECRET-CONFIG-PASSWORD"}},
		{"wp-config", "var/www/wp-config.php", "define( 'DB_PASSWORD', 'wpPa55word' );\ndefine( 'DB_USER', 'wp' );\n", []string{"HIGH LS-SECRET-CONFIG-PASSWORD"}},
		{"django", "app/settings.py", "DATABASES = {'default': {'PASSWORD': 'dj4ngoPw',}}\nSECRET_KEY = os.environ['SECRET_KEY']\n", []string{"HIGH LS-SECRET-CONFIG-PASSWORD"}},
		{"git credentials file", "root/.git-credentials", "https://user:pw@github.com\n", []string{"MEDIUM LS-SECRET-CREDENTIAL-FILE"}},
		{"keystore", "app/keystore.jks", "\xfe\xed\xfe\xed\x00\x00", []string{"MEDIUM LS-SECRET-KEYSTORE"}},
		{"binary is skipped", "app/blob", "\x00\x01LTAI5tQ8rXyZ3mN7pK2wV9bC", nil},
		{"password word in prose", "app/README.txt", "Set your password in the UI.\n", nil},
	}
	for _, c := range cases {
		got, fs := scanIDs(c.path, c.body)
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		for _, f := range fs {
			if f.Category != scan.SensitiveFile || f.Remediation == "" || !strings.Contains(f.Evidence, "line") && !strings.Contains(f.Evidence, "bytes") {
				t.Errorf("%s: incomplete %+v", c.name, f)
			}
			for _, leak := range []string{"Zk3Yq8", "5tQ8rX", "wJalrX", "Sup3rS3", "hunter2", "wpPa55", "dj4ngo", "MIIEpA", "k8s9Qw"} {
				if strings.Contains(f.Evidence+f.Title, leak) {
					t.Errorf("%s: evidence leaks %q: %s", c.name, leak, f.Evidence)
				}
			}
		}
	}
}

func TestWants(t *testing.T) {
	for p, want := range map[string]bool{
		"root/.ssh/id_rsa": true, "app/.env": true, "usr/share/doc/x/README": false,
		"app/node_modules/ssh2/test/fixtures/id_rsa": false, "usr/lib/python3/dist-packages/x/key.pem": false,
		"app/logo.png": false, "app/keystore.p12": true, "var/lib/dpkg/info/x.list": false,
	} {
		if got := (Analyzer{}).Wants(p, 0o644); got != want {
			t.Errorf("Wants(%s) = %v", p, got)
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add("app/.env", []byte("PASSWORD=abc123xyz\n"))
	f.Add("x", []byte(rsaKey))
	f.Add("root/.aliyun/config.json", []byte(`{"access_key_id":"LTAI5tHn3Kp8Vw2Ym6Qr9Zx1","access_key_secret":"Wb6Nf3Hq9Lt2Vx8Kp5Rm1Zc7Gd4Js0"}`))
	f.Fuzz(func(t *testing.T, p string, b []byte) {
		for _, fd := range Scan(p, b) {
			if fd.ID == "" || fd.Evidence == "" {
				t.Fatalf("empty finding %+v", fd)
			}
		}
	})
}

// The vendors' documented example keys are not secrets.
func TestDocumentedExamplesAreSkipped(t *testing.T) {
	if got, _ := scanIDs("docs/aws.txt", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"); len(got) != 0 {
		t.Errorf("%v", got)
	}
}

func TestOversizedFileIsNoted(t *testing.T) {
	big := []byte(strings.Repeat("log line without secrets\n", MaxFileBytes/24))
	arts, err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: "var/log/app.log", Size: int64(len(big)), Content: big})
	if err != nil || len(arts) != 1 || !strings.Contains(arts[0].Warning, "cap") {
		t.Errorf("%+v %v", arts, err)
	}
}
