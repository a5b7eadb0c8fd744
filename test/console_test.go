package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/notify"
)

// browser is headless Debian Chromium driven by chromedp.
type browser struct {
	t     testing.TB
	alloc context.Context
	shots string
}

func newBrowser(t testing.TB) *browser {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: make deps installs it")
		}
		t.Skip("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	// One browser; tabs are contexts made from its first one (a second
	// context from the allocator would start a second browser on the same
	// profile).
	alloc, cancel = chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if _, err := chromedp.Run(alloc, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("LAYERSCAN_SCREENSHOTS") // to look at them; else the test's temp dir
	if shots == "" {
		shots = t.TempDir()
	}
	os.MkdirAll(shots, 0o755)
	return &browser{t: t, alloc: alloc, shots: shots}
}

// tab is one browser tab (its own sessionStorage: its own sign-in).
type tab struct {
	b   *browser
	ctx context.Context
}

func (b *browser) tab() *tab {
	ctx, cancel := chromedp.NewContext(b.alloc)
	b.t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 40*time.Second)
	b.t.Cleanup(cancel)
	return &tab{b, ctx}
}

func (tb *tab) do(a chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	if _, err := chromedp.Run(tb.ctx, a); err != nil {
		tb.b.t.Fatal(err)
	}
}

func evalIn[T any](tb *tab, js string) T {
	tb.b.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is true.
func (tb *tab) waitJS(js string) {
	tb.b.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		tb.b.t.Fatalf("waiting for %s: %v", js, err)
	}
}

func (tb *tab) shot(name string) {
	tb.b.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		tb.b.t.Fatal(err)
	}
	p := filepath.Join(tb.b.shots, name+".png")
	os.WriteFile(p, png, 0o644)
}

func (tb *tab) signIn(base, key string) {
	tb.do(chromedp.Navigate(base + "/console/"))
	tb.do(chromedp.WaitVisible(chromedp.CSS("#api-key")))
	tb.do(chromedp.SendKeys(chromedp.CSS("#api-key"), key))
	tb.do(chromedp.Click(chromedp.CSS("#signin")))
	tb.do(chromedp.WaitVisible(chromedp.CSS("#risk-table")))
}

func (tb *tab) open(hash, ready string) {
	tb.do(chromedp.Evaluate[chromedp.Void](`location.hash = ` + jsString(hash)))
	tb.waitJS(`!!document.querySelector(` + jsString(ready) + `)`)
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestConsoleInChromium drives the console in headless Chromium against
// `layerscan serve`'s handler, with corpus images pushed to a real
// docker-registry: sign in, a scope with a tag regex, Scan Now, the task,
// the system-vulnerability list against the API, a whitelist leaving the
// counts, a finding's fix command, a settings conflict between two tabs, a
// validation error, and a viewer's disabled buttons and 403.
func TestConsoleInChromium(t *testing.T) {
	needDockerRegistry(t)
	b := newBrowser(t)
	addr := startDebianRegistry(t)
	img := corpusDebian(t)
	push(t, img, addr+"/team/app:1.0")
	push(t, img, addr+"/team/app:2.0")
	a := newAPIEnv(t)
	a.do(t, "POST", "/v1/registries", `{"id":"r","kind":"generic","hosts":["`+addr+`"],"insecure":true,"imagesPerHour":-1,"auth":{"method":"none"}}`)

	w := b.tab()
	w.signIn(a.base, a.key)
	w.shot("01-landing-empty")
	if role := evalIn[string](w, `document.getElementById("role").textContent`); role != "admin" {
		t.Errorf("signed in as %q", role)
	}

	// A scope with a tag regex, set with the repository picker on the
	// Scan Configuration tab.
	w.open("#/settings", `[data-pick="r"]`)
	w.do(chromedp.Click(chromedp.CSS(`[data-pick="r"]`)))
	w.waitJS(`!!document.querySelector('[data-repo="team/app"]')`)
	w.do(chromedp.Click(chromedp.CSS(`[data-repo="team/app"]`)))
	w.do(chromedp.SetValue(chromedp.CSS("#picker-tag-regex"), `1\..*`))
	w.do(chromedp.Click(chromedp.CSS("#picker-apply")))
	if rules := evalIn[string](w, `JSON.stringify(JSON.parse(document.querySelector('[data-field="scan.scope"]').value))`); rules != `[{"registry":"r","repositories":["team/app"],"tagRegex":"1\\..*"}]` {
		t.Errorf("the picker wrote %s", rules)
	}
	w.shot("02-settings-scan")
	w.do(chromedp.Click(chromedp.CSS(`#settings-body button.primary`)))
	w.waitJS(`!!document.getElementById("saved")`)

	// Scan Now, and the task to succeeded.
	w.do(chromedp.Click(chromedp.CSS("#scan-now")))
	w.do(chromedp.WaitVisible(chromedp.CSS(`#dialog [data-type="generic"]`)))
	w.shot("03-scan-now")
	w.do(chromedp.Click(chromedp.CSS(`#dialog button.primary`)))
	w.waitJS(`!!document.getElementById("scan-task")`)
	taskID := evalIn[string](w, `document.getElementById("scan-task").textContent`)
	w.do(chromedp.Click(chromedp.CSS("#scan-task")))
	w.waitJS(`document.getElementById("task-status") && document.getElementById("task-status").textContent === "succeeded"`)
	w.shot("04-task")
	var tv struct {
		Log []struct{ Image, Tag string }
	}
	_, body := a.do(t, "GET", "/v1/tasks/"+taskID, "")
	json.Unmarshal([]byte(body), &tv)
	if len(tv.Log) != 1 || tv.Log[0].Tag != "1.0" {
		t.Errorf("scan-now under the tag regex scanned %+v", tv.Log)
	}
	w.open("#/tasks", "#task-table")
	w.shot("05-tasks")

	// The system-vulnerability tab against the API.
	w.open("#/", "#risk-table")
	w.waitJS(`document.querySelectorAll("#risk-table tbody tr[data-id]").length > 0`)
	w.shot("06-landing")
	var api struct {
		Total  int
		Counts map[string]map[string]int
		Rows   []struct{ ID string }
	}
	_, body = a.do(t, "GET", "/v1/risks?category=system-vulnerability&limit=20", "")
	json.Unmarshal([]byte(body), &api)
	var findings struct{ Total int }
	_, fb := a.do(t, "GET", "/v1/findings?category=system-vulnerability", "")
	json.Unmarshal([]byte(fb), &findings)
	pageRows := evalIn[[]string](w, `[...document.querySelectorAll("#risk-table tbody tr[data-id]")].map(r => r.dataset.id)`)
	cardTotal := evalIn[int](w, `+document.querySelector('[data-category="system-vulnerability"] .total').textContent`)
	if findings.Total == 0 || cardTotal != findings.Total || len(pageRows) != min(api.Total, 20) || pageRows[0] != api.Rows[0].ID {
		t.Errorf("page: %d findings, rows %v; API: %d findings, %d rows, first %v", cardTotal, pageRows, findings.Total, api.Total, api.Rows[:1])
	}
	pageInfo := evalIn[string](w, `document.getElementById("page-info").textContent`)
	if !strings.Contains(pageInfo, fmt.Sprintf("%d row(s)", api.Total)) {
		t.Errorf("pager %q, API total %d", pageInfo, api.Total)
	}
	// The toggle puts the lowest severities first.
	w.do(chromedp.Click(chromedp.CSS("#sort-toggle")))
	w.waitJS(`document.getElementById("sort-toggle").textContent.includes("Unknown first")`)
	w.do(chromedp.Click(chromedp.CSS("#sort-toggle")))
	w.waitJS(`document.getElementById("sort-toggle").textContent.includes("Critical first")`)

	// A finding: its images, layer, fix command; whitelist it.
	first := pageRows[0]
	w.do(chromedp.Click(chromedp.CSS(`#risk-table tbody tr[data-id="` + first + `"]`)))
	w.waitJS(`!!document.querySelector("#risk-images .fix-command")`)
	w.shot("07-finding")
	if cmd := evalIn[string](w, `document.querySelector("#risk-images .fix-command").textContent`); !strings.Contains(cmd, "apt-get install --only-upgrade") {
		t.Errorf("fix command %q", cmd)
	}
	if n := evalIn[int](w, `document.querySelectorAll("#risk-images .image-card").length`); n != 1 {
		t.Errorf("%s is in %d images, want 1 (the scanned 1.0)", first, n)
	}
	w.do(chromedp.Click(chromedp.CSS(`#dialog-body .row button.primary`)))
	w.waitJS(`!!document.getElementById("whitelisted")`)
	w.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("dialog").close()`))
	w.waitJS(`![...document.querySelectorAll("#risk-table tbody tr[data-id]")].some(r => r.dataset.id === ` + jsString(first) + `)`)
	after := evalIn[int](w, `+document.querySelector('[data-category="system-vulnerability"] .total').textContent`)
	if after >= cardTotal {
		t.Errorf("after whitelisting %s the count is %d (was %d)", first, after, cardTotal)
	}

	// Images and an image's page.
	w.open("#/images", "#image-table")
	w.shot("08-images")
	d, _ := img.Digest()
	w.open("#/images/"+d.String(), `[data-format="cyclonedx"]`)
	w.shot("09-image")

	// Two tabs change the settings at once: the second is told.
	w.open("#/settings", `[data-field="scan.timeRangeDays"]`)
	o := b.tab()
	o.signIn(a.base, a.key)
	o.open("#/settings", `[data-field="scan.timeRangeDays"]`)
	w.do(chromedp.SetValue(chromedp.CSS(`[data-field="scan.timeRangeDays"]`), "30"))
	w.do(chromedp.Click(chromedp.CSS(`#settings-body button.primary`)))
	w.waitJS(`!!document.getElementById("saved")`)
	o.do(chromedp.SetValue(chromedp.CSS(`[data-field="scan.retentionDays"]`), "90"))
	o.do(chromedp.Click(chromedp.CSS(`#settings-body button.primary`)))
	o.waitJS(`!!document.getElementById("conflict")`)
	o.shot("10-settings-conflict")
	o.do(chromedp.Click(chromedp.CSS("#reload")))
	o.waitJS(`document.querySelector('[data-field="scan.timeRangeDays"]') && document.querySelector('[data-field="scan.timeRangeDays"]').value === "30"`)
	// A validation error shows beside its field.
	o.do(chromedp.SetValue(chromedp.CSS(`[data-field="scan.retentionDays"]`), "-1"))
	o.do(chromedp.Click(chromedp.CSS(`#settings-body button.primary`)))
	o.waitJS(`document.querySelector('[data-error-for="scan.retentionDays"]').textContent.includes("negative")`)
	o.shot("11-settings-invalid")
	// Baseline Configuration Management: a check switched off with its box.
	o.do(chromedp.Click(chromedp.CSS(`[data-settings-tab="baseline"]`)))
	o.waitJS(`!!document.querySelector('[data-check="passwordLeak"]')`)
	o.do(chromedp.Click(chromedp.CSS(`[data-check="passwordLeak"]`)))
	o.do(chromedp.Click(chromedp.CSS(`#settings-body button.primary`)))
	o.waitJS(`!!document.getElementById("saved")`)
	o.shot("12-settings-baseline")
	if _, body := a.do(t, "GET", "/v1/settings", ""); !strings.Contains(body, `"passwordLeak": false`) {
		t.Errorf("password-leak switch after saving: %s", body)
	}
	o.waitJS(`!!document.querySelector('[data-settings-tab="fix"]') && !document.getElementById("saved")`)
	o.do(chromedp.Click(chromedp.CSS(`[data-settings-tab="fix"]`)))
	o.waitJS(`!!document.getElementById("fix-auto")`)
	o.shot("12-settings-fix2")

	// Image Repository: a connection's throttle edited in place.
	o.do(chromedp.Click(chromedp.CSS(`[data-settings-tab="registries"]`)))
	o.waitJS(`!!document.querySelector('[data-registry="r"]')`)
	o.do(chromedp.SetValue(chromedp.CSS(`[data-registry="r"]`), "50"))
	o.do(chromedp.Click(chromedp.CSS(`[data-save-registry="r"]`)))
	o.waitJS(`document.getElementById("settings-status").textContent.includes("Saved")`)
	o.shot("13-settings-registries")
	if _, body := a.do(t, "GET", "/v1/registries/r", ""); !strings.Contains(body, `"imagesPerHour": 50`) {
		t.Errorf("throttle after the edit: %s", body)
	}
	// Vulnerability Whitelist Settings lists the rule made from the finding.
	o.do(chromedp.Click(chromedp.CSS(`[data-settings-tab="vulns"]`)))
	o.waitJS(`document.querySelector("#whitelist-table") && document.querySelector("#whitelist-table").textContent.includes(` + jsString(first) + `)`)
	o.shot("14-settings-whitelist")
	// Notifications: "send test" reaches the target.
	t.Setenv("HOOK_SECRET", "console-hook-secret")
	hook := &receiver{kind: notify.HTTP, secret: "console-hook-secret"}
	hookURL := startReceiver(t, hook)
	a.putSettings(t, `{"notifications":[{"id":"hook","kind":"http","url":"`+hookURL+`/in","secret":{"env":"HOOK_SECRET"},"allowPrivate":true}]}`)
	o.do(chromedp.Click(chromedp.CSS(`[data-settings-tab="notifications"]`)))
	o.waitJS(`!!document.querySelector("#notification-table button")`)
	o.do(chromedp.Click(chromedp.CSS(`#notification-table button`)))
	o.waitJS(`!!document.getElementById("test-sent")`)
	o.shot("15-settings-notifications")
	if got := hook.events(); len(got) != 1 || got[0].Kind != "test" {
		t.Errorf("test notification: %+v", got)
	}

	// A viewer sees everything and can change nothing.
	_, viewer, _ := a.env.Keys.Create(context.Background(), apikeys.Viewer, "viewer", nil, "test")
	v := b.tab()
	v.signIn(a.base, viewer)
	if !evalIn[bool](v, `document.getElementById("scan-now").disabled`) {
		t.Error("the viewer's Scan Now button is enabled")
	}
	v.waitJS(`document.querySelectorAll("#risk-table tbody tr[data-id]").length > 0`)
	v.do(chromedp.Click(chromedp.CSS(`#risk-table tbody tr[data-id]`)))
	v.waitJS(`!!document.querySelector("#risk-images")`)
	buttons := evalIn[[]bool](v, `[...document.querySelectorAll("#dialog-body button[data-needs]")].map(b => b.disabled)`)
	if len(buttons) < 2 || slices.Contains(buttons, false) {
		t.Errorf("the viewer's change buttons (disabled?): %v", buttons)
	}
	v.shot("16-viewer")
	if code, _ := a.doAs(t, viewer, "POST", "/v1/whitelists", `{"type":"vulnerability","vulnerabilities":["CVE-1"]}`); code != http.StatusForbidden {
		t.Errorf("viewer whitelist: %d", code)
	}
	t.Logf("screenshots in %s", b.shots)
}
