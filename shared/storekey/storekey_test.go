package storekey

import (
	"strings"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/store"
)

func TestKeysAreValidStoreKeys(t *testing.T) {
	d := "sha256:" + "ab12"
	for _, k := range []string{
		Facts(d, "as-1"), ImageConfig(d), Report(d, ""), Report(d, "20261201T000000Z"),
		ScanState("s1"), Done("s1", d), Claim("s1"), Result("s1"),
		Job("analyze-layer", time.Now(), "ab"), AdvisoryCurrent, AdvisoryManifest("v"),
		AdvisoryEcosystem("v", "Rocky Linux:9"), SignaturesCurrent, Signatures("v"),
		Whitelist, Periodic, SettingsVersion(3), Registry("acr"), APIKey("k1"), Task("t1"), TaskRecord("t1", 3, "started"),
		QuotaDigest("202612", "c1", d), QuotaSlot("202612", 4), TagScan("h:5000", "ns/app", "v1"), ScopeSeen("r", "ns/app"), WhitelistRule("w1"),
		FixResult("fix-1", 0), Remediation(d), Cluster("prod"), RuntimeImage("prod", d),
	} {
		if err := store.CheckKey(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}

func TestStepOf(t *testing.T) {
	for key, want := range map[string]string{
		"queue/analyze-layer/20261122T000000.000Z-ab.json": "analyze-layer",
		"queue/x.json": "", "queue/a/b/c.json": "", "layers/x/y.json": "", "queue/a/b.txt": "",
	} {
		got, ok := StepOf(key)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v", key, got, ok)
		}
	}
	at := time.Date(2026, 11, 22, 1, 2, 3, 4e6, time.UTC)
	k := Job("build-report", at, "ff")
	if s, ok := StepOf(k); !ok || s != "build-report" {
		t.Errorf("%s: %q", k, s)
	}
	if got, ok := JobCreated(k); !ok || !got.Equal(at) {
		t.Errorf("%s created %v", k, got)
	}
	if !strings.HasPrefix(k, "queue/build-report/ff-") {
		t.Errorf("%s: the random part must come first (names that start with a time are sequential)", k)
	}
	if got, ok := JobCreated("queue/build-report/20261122T010203.004Z-ff.json"); !ok || !got.Equal(at) {
		t.Errorf("a job written before the random part came first: created %v", got)
	}
	for _, bad := range []string{"queue/x/garbage.json", "queue/x/ff-garbage.json", "queue/x/ff-20261122T010203.004Z"} {
		if _, ok := JobCreated(bad); ok {
			t.Errorf("%s parsed as a job name", bad)
		}
	}
}

func TestScanFile(t *testing.T) {
	for key, want := range map[string][2]string{
		Done("s1", "sha256:ab"): {"s1", "done/sha256:ab"},
		ScanState("s2"):         {"s2", StateFile},
		"scans/x":               {"", ""},
		"layers/x/y":            {"", ""},
	} {
		id, f, ok := ScanFile(key)
		if id != want[0] || f != want[1] || ok != (want[0] != "") {
			t.Errorf("%s: %q %q %v", key, id, f, ok)
		}
	}
}

func TestSettingsVersionOf(t *testing.T) {
	if n, ok := SettingsVersionOf(SettingsVersion(42)); !ok || n != 42 {
		t.Errorf("%d %v", n, ok)
	}
	for _, k := range []string{"config/settings/x.json", "config/settings/0000000001.json.tmp", "config/other"} {
		if _, ok := SettingsVersionOf(k); ok {
			t.Errorf("%s parsed", k)
		}
	}
}

func TestQuotaSlotNumber(t *testing.T) {
	for _, n := range []int{0, 7, 12345678, 1 << 31} {
		if got, ok := QuotaSlotNumber(QuotaSlot("202612", n)); !ok || got != n {
			t.Errorf("%d: %d %v", n, got, ok)
		}
	}
	for _, bad := range []string{"quota/202612/slots/", "quota/202612/slots/x1", "quota/202612/digests/c/sha256:ab", "quota/202612/slots/-3"} {
		if _, ok := QuotaSlotNumber(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}
