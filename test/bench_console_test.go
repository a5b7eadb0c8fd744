package test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

// consoleFleet writes images reports of perImage findings each (spread
// over the categories and severities, a share of IDs common to many
// images, as a fleet sharing bases has) and their latest pointers.
func consoleFleet(b testing.TB, st store.Store, images, perImage int) {
	ctx := context.Background()
	for i := range images {
		d := fmt.Sprintf("sha256:%064x", i+1)
		r := report.Report{Schema: report.Schema, Image: report.Image{Ref: fmt.Sprintf("registry.example.test/team%d/app@%s", i%50, d), Digest: d, Platform: "linux/amd64"}, Complete: true, CreatedAt: time.Now().UTC().Format(time.RFC3339)}
		for j := range perImage {
			c := scan.Categories[j%len(scan.Categories)]
			f := scan.Finding{Category: c, ID: fmt.Sprintf("CVE-2026-%d", j*7+i%3), Severity: scan.Severities[j%len(scan.Severities)], Title: "a finding of the console benchmark", Path: "/var/lib/dpkg/status", Remediation: "apt-get install --only-upgrade -y pkg=1.1"}
			if c == scan.SystemVulnerability || c == scan.ApplicationVulnerability {
				f.Package = &scan.PackageRef{Name: fmt.Sprintf("pkg%d", j), Version: "1.0", Type: "deb"}
			}
			r.Findings = append(r.Findings, f)
		}
		key := storekey.Report(d, "v1")
		if err := store.PutJSON(ctx, st, key, r); err != nil {
			b.Fatal(err)
		}
		if err := store.PutJSON(ctx, st, storekey.ImageLatest(d), pipeline.Latest{ScanID: fmt.Sprint("s", i), Ref: r.Image.Ref, ReportKey: key, DBVersion: "v1", Complete: true, Created: r.CreatedAt}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsoleLanding answers the console's landing page (counts of
// every category and severity, the first page of the system-vulnerability
// list) over 1,000 images with 50,000 findings: the first load (cold:
// a new scan-api instance, reports read from the store) and a warm one
// (decoded reports kept by their latest pointer). Goal: under 1 s cold.
func BenchmarkConsoleLanding(b *testing.B) {
	a := newAPIEnv(b)
	consoleFleet(b, a.env.Store, 1000, 50)
	get := func() {
		req, _ := http.NewRequest("GET", a.base+"/v1/risks?category=system-vulnerability&limit=20", nil)
		req.Header.Set("Authorization", "Bearer "+a.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%v %v", err, resp)
		}
		resp.Body.Close()
	}
	var cold, warm time.Duration
	for range b.N {
		fresh := newAPIEnvAt(b, a.store) // an instance with nothing cached
		start := time.Now()
		req, _ := http.NewRequest("GET", fresh.base+"/v1/risks?category=system-vulnerability&limit=20", nil)
		req.Header.Set("Authorization", "Bearer "+fresh.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%v %v", err, resp)
		}
		resp.Body.Close()
		cold += time.Since(start)
		get()
		start = time.Now()
		get()
		warm += time.Since(start)
	}
	b.ReportMetric(float64(cold.Milliseconds())/float64(b.N), "cold-ms")
	b.ReportMetric(float64(warm.Milliseconds())/float64(b.N), "warm-ms")

	// The first load of the page in Chromium, on an instance with nothing
	// cached: from navigation to the first page of rows shown, signed in.
	fresh := newAPIEnvAt(b, a.store)
	br := newBrowser(b)
	tb := br.tab()
	tb.do(chromedp.Navigate(fresh.base + "/console/"))
	tb.do(chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem("layerscan-key", ` + jsString(fresh.key) + `)`))
	start := time.Now()
	tb.do(chromedp.Navigate(fresh.base + "/console/index.html#/")) // a new document, which reads the key
	tb.waitJS(`document.querySelectorAll("#risk-table tbody tr[data-id]").length === 20`)
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "page-load-ms")
}
