package test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/builtin"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/whitelist"
)

type want struct {
	cat   scan.Category
	id    string
	path  string // "" for config/history findings
	layer int    // -1: no layer (config, empty history entry)
	sev   scan.Severity
}

// TestCorpusPlantedRisks checks every planted finding of EXPECTED.md
// (sections 1 and 2) in its category, at its path and layer, and that the
// untouched base layers yield no sensitive file and no malicious sample.
func TestCorpusPlantedRisks(t *testing.T) {
	db := advisoryStore(t)
	cases := []struct {
		image  string
		want   []want
		absent []string
		// secrets that must never appear in any output
		secrets []string
	}{
		{
			image: "debian-bookworm-app",
			want: []want{
				{scan.SensitiveFile, "LS-SECRET-ALIBABA-AK", "/opt/app/config/aliyun.properties", 3, scan.Critical},
				{scan.SensitiveFile, "LS-SECRET-ALIBABA-AK", "/opt/app/tmp/old-credentials.txt", 3, scan.Critical}, // deleted by layer 4
				{scan.SensitiveFile, "LS-SECRET-PRIVATE-KEY", "/root/.ssh/id_rsa", 3, ""},
				{scan.MaliciousSample, "LS-MALWARE-EICAR-TEST-SIGNATURE", "/opt/samples/eicar.com", 3, ""},
				{scan.MaliciousSample, "LS-MALWARE-CLAMAV-TEST-FILE-CLAM-EXE", "/opt/samples/clam.exe", 3, ""},
				{scan.MaliciousSample, "LS-MALWARE-CLAMAV-TEST-FILE-CLAM-ZIP", "/opt/samples/clam.zip", 3, ""},
				{scan.MaliciousSample, "MAL-2025-20690", "/app/legacy/node_modules/flatmap-stream/package.json", 2, scan.Critical},
				{scan.Baseline, "LS-BASELINE-EMPTY-PASSWORD", "/etc/shadow", 3, ""},
				{scan.Baseline, "LS-BASELINE-WEAK-HASH", "/etc/shadow", 3, ""},
				{scan.Baseline, "LS-BASELINE-WEAK-PASSWORD", "/etc/shadow", 3, ""},
				{scan.Baseline, "LS-BASELINE-SSH-ROOT-LOGIN", "/etc/ssh/sshd_config", 3, ""},
				{scan.Baseline, "LS-BASELINE-SSH-PASSWORD-AUTH", "/etc/ssh/sshd_config", 3, ""},
				{scan.Baseline, "LS-BASELINE-SSH-X11", "/etc/ssh/sshd_config", 3, ""},
				{scan.Baseline, "LS-BASELINE-SUID-WRITABLE", "/usr/local/bin/suid-helper", 3, scan.Critical},
				{scan.BuildInstruction, "LS-BUILD-MAINTAINER", "", -1, ""},
				{scan.BuildInstruction, "LS-BUILD-TLS-NODE", "", -1, scan.High},
				{scan.BuildInstruction, "LS-BUILD-ENV-SECRET", "", -1, scan.High},
				{scan.BuildInstruction, "LS-BUILD-USER-ROOT", "", -1, ""},
				{scan.BuildInstruction, "LS-BUILD-APP-AS-ROOT", "", -1, ""},
				{scan.BuildInstruction, "LS-BUILD-PIPE-HTTP", "", 3, scan.High},
				{scan.BuildInstruction, "LS-BUILD-TLS-CURL", "", 3, ""},
				{scan.BuildInstruction, "LS-BUILD-APT-UNPINNED", "", 1, ""},
				{scan.BuildInstruction, "LS-BUILD-EXPOSE-SSH", "", -1, ""},
			},
			// the base rootfs ADD and the clean apt-get line are not risks
			absent:  []string{"LS-BUILD-ADD", "LS-BUILD-APT-LISTS", "LS-BUILD-UPDATE-ALONE"},
			secrets: []string{"Zk3Yq8Wm2Xp7Lr5Nv9Tb4Hc6Jd1Fs0", "LTAI5tQ8rXyZ3mN7pK2wV9bC", "LTAI4GvB7nW2kQ9sT5xR1mZd", "pR8sL2vN6qW4xT9zK3mB7yH1cJ5fDg", "Sup3rS3cretDbP@ss2024", "6VyYTxEih9Dl6e", "MIIEpAIBAAKCAQEA"},
		},
		{
			image: "alpine-3.9-app.tar",
			want: []want{
				{scan.Baseline, "LS-BASELINE-EMPTY-PASSWORD", "/etc/shadow", 0, scan.Critical}, // real: root::: in the 3.9.0 rootfs
				{scan.SensitiveFile, "LS-SECRET-ALIBABA-AK", "/root/.aliyun/config.json", 1, scan.Critical},
				{scan.SensitiveFile, "LS-SECRET-PRIVATE-KEY", "/etc/ssl/private/server.key", 1, ""},
				{scan.BuildInstruction, "LS-BUILD-ENV-SECRET", "", -1, scan.High},
				{scan.BuildInstruction, "LS-BUILD-ADD-REMOTE", "", 1, ""},
				{scan.BuildInstruction, "LS-BUILD-PIPE-HTTP", "", 2, scan.High},
				{scan.BuildInstruction, "LS-BUILD-TLS-WGET", "", 2, ""},
				{scan.BuildInstruction, "LS-BUILD-USER-ROOT", "", -1, ""},
			},
			// LABEL maintainer= is the recommended form, not the deprecated instruction
			absent:  []string{"LS-BUILD-MAINTAINER", "LS-BUILD-ADD"},
			secrets: []string{"Wb6Nf3Hq9Lt2Vx8Kp5Rm1Zc7Gd4Js0", "LTAI5tHn3Kp8Vw2Ym6Qr9Zx1", "alpine-r00t-pw-123"},
		},
		{image: "ubuntu-24.04-noble"},
		{image: "almalinux-9.0-micro-arm64.tar"},
		{image: "rpm-cbl-mariner-2.0-sqlite.tar"},
		{image: "rpm-sles-15.3-ndb.tar"},
		{image: "rpm-rhel-8.8-bdb.tar"},
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			r := scanImage(t, db, corpusImage(t, c.image))
			layerIdx := map[string]int{"": -1}
			for _, l := range r.Layers {
				layerIdx[l.DiffID] = l.Index
			}
			for _, w := range c.want {
				found := false
				for _, f := range r.Findings {
					if f.ID != w.id || f.Path != w.path {
						continue
					}
					found = true
					if f.Category != w.cat {
						t.Errorf("%s %s: category %s, want %s", w.id, w.path, f.Category, w.cat)
					}
					if layerIdx[f.LayerDiffID] != w.layer {
						t.Errorf("%s %s: layer %d, want %d", w.id, w.path, layerIdx[f.LayerDiffID], w.layer)
					}
					if w.sev != "" && f.Severity != w.sev {
						t.Errorf("%s %s: severity %s, want %s", w.id, w.path, f.Severity, w.sev)
					}
					if f.Remediation == "" || f.Title == "" || (f.Package == nil && f.Evidence == "") {
						t.Errorf("%s %s: incomplete %+v", w.id, w.path, f)
					}
				}
				if !found {
					t.Errorf("missing %s %s at %q", w.cat, w.id, w.path)
				}
			}
			for _, f := range r.Findings {
				for _, id := range c.absent {
					if f.ID == id {
						t.Errorf("unexpected %s: %s", id, f.Evidence)
					}
				}
				// Only the planted layers hold secrets or malware: the real
				// base layers (debootstrap, Alpine, Ubuntu, AlmaLinux) are clean.
				if (f.Category == scan.SensitiveFile || f.Category == scan.MaliciousSample) && f.Package == nil {
					planted := false
					for _, w := range c.want {
						planted = planted || (w.id == f.ID && w.path == f.Path)
					}
					if !planted {
						t.Errorf("unplanted %s %s at %s (layer %d): %s", f.Category, f.ID, f.Path, layerIdx[f.LayerDiffID], f.Evidence)
					}
				}
			}
			out, _ := json.Marshal(r)
			for _, s := range c.secrets {
				if strings.Contains(string(out), s) {
					t.Errorf("the report contains the secret %q", s)
				}
			}
		})
	}
}

// TestDeletedSecretSaysSo: the deleted credentials file is reported with
// the layer that deleted it named in the evidence.
func TestDeletedSecretSaysSo(t *testing.T) {
	r := scanImage(t, advisoryStore(t), corpusImage(t, "debian-bookworm-app"))
	for _, f := range r.Findings {
		if f.Path == "/opt/app/tmp/old-credentials.txt" {
			if !strings.Contains(f.Evidence, "deleted by layer "+strings.TrimPrefix(r.Layers[4].DiffID, "sha256:")[:12]) {
				t.Errorf("evidence %q does not say which layer deleted it", f.Evidence)
			}
			return
		}
	}
	t.Error("deleted secret not reported")
}

// TestWhitelist: rules from the store's shared policy and from the request
// mark findings, which stay in the report and leave the counts.
func TestWhitelist(t *testing.T) {
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	if err := os.MkdirAll(filepath.Join(storeDir, "policy"), 0o755); err != nil {
		t.Fatal(err)
	}
	shared := `{"rules":[{"id":"LS-MALWARE-*","path":"/opt/samples/**","reason":"scanner test files"}]}`
	if err := os.WriteFile(filepath.Join(storeDir, "policy", "whitelist.json"), []byte(shared), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := store.NewFS(storeDir)
	d := &pipeline.Steps{Store: st, Analyzers: builtin.Set(), Sources: builtin.Sources()}
	req := scanrecord.Request{
		Source:    corpusImage(t, "debian-bookworm-app"),
		Whitelist: []whitelist.Rule{{ID: "CVE-2020-8203", Repository: "corpus.local/debian-bookworm-app", Reason: "not reachable"}},
	}
	rs, err := d.ScanLocal(context.Background(), req, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	marked := map[string]bool{}
	for _, f := range r.Findings {
		if f.Whitelisted {
			marked[f.ID+" "+f.Path] = true
		}
	}
	for _, k := range []string{
		"LS-MALWARE-EICAR-TEST-SIGNATURE /opt/samples/eicar.com", "LS-MALWARE-CLAMAV-TEST-FILE-CLAM-EXE /opt/samples/clam.exe",
		"LS-MALWARE-CLAMAV-TEST-FILE-CLAM-ZIP /opt/samples/clam.zip", "GHSA-p6mc-m468-83gw /app/node_modules/lodash/package.json",
	} {
		if !marked[k] {
			t.Errorf("%s not whitelisted (marked: %v)", k, marked)
		}
	}
	if len(marked) != 4 {
		t.Errorf("whitelisted %d findings, want 4: %v", len(marked), marked)
	}
	// The MAL- record is not under /opt/samples: it stays counted.
	if n := r.Summary[scan.MaliciousSample][scan.Critical] + r.Summary[scan.MaliciousSample][scan.High]; n != 1 {
		t.Errorf("malicious-sample count %d, want 1 (the npm MAL- record)", n)
	}
}
