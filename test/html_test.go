package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/layerscan/layerscan/shared/format"
	"github.com/layerscan/layerscan/shared/scan"
)

// TestHTMLReportInChromium: the corpus image's HTML report, opened from a
// file in headless Chromium (Debian's package; make deps installs it),
// renders one row per finding, shows the summary's counts, and a severity
// filter narrows the rows to that severity.
func TestHTMLReportInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: make deps installs it")
		}
		t.Skip("chromium is not installed")
	}
	r := scanImage(t, advisoryStore(t), corpusImage(t, "debian-bookworm-app"))
	page := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := format.Write(f, format.HTML, r); err != nil {
		t.Fatal(err)
	}
	f.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	// chromedp v0.23: one typed action per Run.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("file://"+page)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(chromedp.CSS("#findings"))); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr.finding").length`))
	if err != nil {
		t.Fatal(err)
	}
	counts, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]int](`Object.fromEntries([...document.querySelectorAll("#summary td[data-count]")].map(td => [td.id, +td.textContent]))`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.SetValue(chromedp.CSS("#f-severity"), "CRITICAL")); err != nil {
		t.Fatal(err)
	}
	critical, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.getElementById("f-severity").dispatchEvent(new Event("change")); [...document.querySelectorAll("tr.finding")].filter(r => r.style.display !== "none").length`))
	if err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#shown")))
	if err != nil {
		t.Fatal(err)
	}
	if rows != len(r.Findings) {
		t.Errorf("%d rows for %d findings", rows, len(r.Findings))
	}
	for _, c := range scan.Categories {
		for _, s := range scan.Severities {
			if got := counts[fmt.Sprintf("count-%s-%s", c, s)]; got != r.Summary[c][s] {
				t.Errorf("%s %s: the page shows %d, the report %d", c, s, got, r.Summary[c][s])
			}
		}
	}
	want := 0
	for _, f := range r.Findings {
		if f.Severity == scan.Critical {
			want++
		}
	}
	if want == 0 || critical != want || shown != fmt.Sprint(want) {
		t.Errorf("the CRITICAL filter shows %d rows (%q), want %d of %d", critical, shown, want, rows)
	}
}
