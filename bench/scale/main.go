// Command scale projects a fleet scan onto Function Compute and Lambda from
// figures measured on one machine (BenchmarkFleet, BenchmarkRematchFleet):
// the wall time of a first full scan and of a re-match, the store request
// rate against the store's limits, and the cost per 1,000 image scans at
// list prices. Every input is a flag, so that a new measurement or a new
// price table is a new run, not a new model. docs/scale.md has its output.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
)

type platform struct {
	name string
	// concurrency is the instances that may run at once (the account's
	// quota); vcpu each instance has; memGB it is billed for.
	concurrency, vcpu, memGB float64
	// cost of one invocation, one vCPU-second and one GB-second, in USD.
	perInvocation, perVCPUSecond, perGBSecond float64
	// coldStart is added once per instance started.
	coldStart float64
}

func main() {
	images := flag.Float64("images", 10000, "images in the registry")
	cpuPerImage := flag.Float64("cpu-per-image", 0, "measured CPU-seconds per image of a first scan (BenchmarkFleet: cores × wall ÷ images)")
	invocationsPerImage := flag.Float64("invocations-per-image", 0, "function invocations per image (scan-image + its layers not yet analysed + build-report)")
	requestsPerImage := flag.Float64("requests-per-image", 0, "measured store requests per image (BenchmarkFleet)")
	rematchRate := flag.Float64("rematch-rate", 0, "measured images re-matched per second per instance (BenchmarkRematchFleet)")
	fcConcurrency := flag.Float64("fc-concurrency", 300, "Function Compute instances at once (the region's quota: an assumption, check your account)")
	lambdaConcurrency := flag.Float64("lambda-concurrency", 1000, "Lambda concurrent executions (the default regional quota)")
	storeLimit := flag.Float64("store-requests-per-second", 3500, "store requests per second the bucket takes (S3: 3,500 writes and 5,500 reads per second per prefix)")
	flag.Parse()
	if *cpuPerImage == 0 || *requestsPerImage == 0 || *rematchRate == 0 || *invocationsPerImage == 0 {
		fmt.Fprintln(os.Stderr, "scale: -cpu-per-image, -invocations-per-image, -requests-per-image and -rematch-rate are the measured figures; all are required")
		os.Exit(2)
	}
	// Function Compute 3.0, pay-as-you-go tier 1 list price USD 0.000020 per
	// CU; 1 CU per active vCPU-second, 0.15 per GB-second, 75 per 10,000
	// invocations ("Pay-as-you-go", alibabacloud.com/help/en/functioncompute/
	// fc-3-0/product-overview/pay-as-you-go-billing-method-1, updated
	// 2024-08-27). Lambda x86, us-east-1: USD 0.20 per million requests,
	// USD 0.0000166667 per GB-second, one vCPU at 1,769 MB ("How AWS
	// Pricing Works: Lambda", docs.aws.amazon.com/whitepapers, as read
	// 2026-12-01).
	const cu = 0.000020
	plats := []platform{
		{name: "Function Compute (1 vCPU, 2 GB)", concurrency: *fcConcurrency, vcpu: 1, memGB: 2, perInvocation: 75.0 / 10000 * cu, perVCPUSecond: cu, perGBSecond: 0.15 * cu, coldStart: 0.5},
		{name: "Lambda (1,769 MB ≈ 1 vCPU)", concurrency: *lambdaConcurrency, vcpu: 1, memGB: 1.769, perInvocation: 0.20 / 1e6, perGBSecond: 0.0000166667, coldStart: 0.5},
	}
	fmt.Printf("Inputs: %.0f images; %.3f CPU-s, %.1f invocations and %.0f store requests per image; re-match %.0f images/s per instance.\n\n", *images, *cpuPerImage, *invocationsPerImage, *requestsPerImage, *rematchRate)
	fmt.Println("| platform | first full scan | store requests/s (limit) | re-match | cost per 1,000 image scans |")
	fmt.Println("|---|---|---|---|---|")
	for _, p := range plats {
		cpu := *images * *cpuPerImage
		instances := math.Min(p.concurrency, *images**invocationsPerImage)
		scan := cpu/(instances*p.vcpu) + p.coldStart
		reqRate := *images * *requestsPerImage / scan
		if reqRate > *storeLimit {
			// The store, not the functions, bounds the scan.
			scan = *images * *requestsPerImage / *storeLimit
			reqRate = *storeLimit
		}
		batches := math.Ceil(*images / 50)
		rematch := math.Ceil(batches/math.Min(p.concurrency, batches))*(50 / *rematchRate) + p.coldStart
		seconds := *cpuPerImage / p.vcpu // billed duration per image
		cost := 1000 * (*invocationsPerImage*p.perInvocation + seconds*p.vcpu*p.perVCPUSecond + seconds*p.memGB*p.perGBSecond)
		fmt.Printf("| %s | %s | %.0f (%.0f) | %s | USD %.4f |\n", p.name, dur(scan), reqRate, *storeLimit, dur(rematch), cost)
	}
}

func dur(s float64) string {
	if s < 120 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.1f min", s/60)
}
