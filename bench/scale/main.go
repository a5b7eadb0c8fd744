// Command scale projects a fleet scan onto Function Compute and Lambda from
// figures measured on one machine (BenchmarkFleet, BenchmarkRematchFleet,
// BenchmarkRematchPlan): the wall time of a first full scan and of a
// re-match, the store request rates against the store's limits, and the
// cost per 1,000 image scans at list prices, store requests included.
// Every input is a flag, so that a new measurement or a new price table is
// a new run, not a new model. docs/scale.md has its output.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
)

// platform is a function platform with the object store beside it.
type platform struct {
	name string
	// concurrency is the instances that may run at once (the account's
	// quota); vcpu each instance has; memGB it is billed for.
	concurrency, vcpu, memGB float64
	// cost of one invocation, one vCPU-second and one GB-second, in USD.
	perInvocation, perVCPUSecond, perGBSecond float64
	// coldStart is added once per instance started.
	coldStart float64
	// The store's request limits per second: writesLimit for PUT, POST,
	// COPY, LIST and DELETE, readsLimit for GET and HEAD; a store with one
	// limit for all has totalLimit instead.
	writesLimit, readsLimit, totalLimit float64
	// storeCost is the store's request cost of one image, in USD; note
	// says what it is made of.
	storeCost func(m measured) (float64, string)
}

// measured are the per-image figures of the benchmarks.
type measured struct {
	images, cpu, invocations    float64
	reads, writes, deletes      float64 // a first scan's store requests
	rematchReads, rematchWrites float64 // a re-match's
	rematchRate, rtt            float64
}

// Constants of the code the figures were measured with.
const (
	batch       = 50 // suite.RematchBatch
	planReaders = 32 // suite's storedReaders, also the batch jobs queued at once
	workers     = 8  // pipeline's rematchWorkers
	listPage    = 1000
)

func main() {
	var m measured
	flag.Float64Var(&m.images, "images", 10000, "images in the registry")
	flag.Float64Var(&m.cpu, "cpu-per-image", 0, "measured CPU-seconds per image of a first scan (BenchmarkFleet: cores × wall ÷ images)")
	flag.Float64Var(&m.invocations, "invocations-per-image", 0, "function invocations per image (scan-image + its layers not yet analysed + build-report)")
	flag.Float64Var(&m.reads, "reads-per-image", 0, "measured GET and HEAD store requests per image of a first scan (BenchmarkFleet read-req/image)")
	flag.Float64Var(&m.writes, "writes-per-image", 0, "measured PUT, POST and LIST store requests per image (BenchmarkFleet write-req/image)")
	flag.Float64Var(&m.deletes, "deletes-per-image", 0, "measured DELETE store requests per image (BenchmarkFleet delete-req/image)")
	flag.Float64Var(&m.rematchReads, "rematch-reads-per-image", 0, "measured GET and HEAD store requests of the functions per re-matched image (BenchmarkFleet rematch-read-req/image)")
	flag.Float64Var(&m.rematchWrites, "rematch-writes-per-image", 0, "measured PUT, POST and LIST store requests per re-matched image (BenchmarkFleet rematch-write-req/image)")
	flag.Float64Var(&m.rematchRate, "rematch-rate", 0, "measured images re-matched per second per instance with no store latency (BenchmarkRematchFleet)")
	flag.Float64Var(&m.rtt, "store-rtt", 0.010, "seconds of one store round trip from a function in the same region (an assumption: 10 ms; BenchmarkRematchPlan uses 5 ms)")
	var warm measured
	flag.Float64Var(&warm.cpu, "warm-cpu-per-image", 0, "measured CPU-seconds per image of a scan cycle over unchanged images (BenchmarkFleet warm-images/min); 0 leaves the cycle out")
	flag.Float64Var(&warm.invocations, "warm-invocations-per-image", 2, "invocations per image of such a cycle (scan-image and build-report)")
	flag.Float64Var(&warm.reads, "warm-reads-per-image", 0, "measured GET and HEAD requests per image of such a cycle (warm-read-req/image)")
	flag.Float64Var(&warm.writes, "warm-writes-per-image", 0, "measured PUT, POST and LIST requests per image of such a cycle (warm-write-req/image)")
	flag.Float64Var(&warm.deletes, "warm-deletes-per-image", 0, "measured DELETE requests per image of such a cycle (warm-delete-req/image)")
	fcConcurrency := flag.Float64("fc-concurrency", 300, "Function Compute instances at once (the region's quota: an assumption, check your account)")
	lambdaConcurrency := flag.Float64("lambda-concurrency", 1000, "Lambda concurrent executions (the default regional quota)")
	flag.Parse()
	if m.cpu == 0 || m.invocations == 0 || m.reads == 0 || m.writes == 0 || m.rematchReads == 0 || m.rematchWrites == 0 || m.rematchRate == 0 {
		fmt.Fprintln(os.Stderr, "scale: -cpu-per-image, -invocations-per-image, -reads-per-image, -writes-per-image, -rematch-reads-per-image, -rematch-writes-per-image and -rematch-rate are the measured figures; all are required")
		os.Exit(2)
	}
	fmt.Printf("Inputs: %.0f images; per image %.3f CPU-s, %.1f invocations, %.1f reads, %.1f writes and %.1f deletes of the store; a re-match %.1f reads and %.1f writes per image, %.0f images/s per instance; store round trip %.0f ms.\n\n",
		m.images, m.cpu, m.invocations, m.reads, m.writes, m.deletes, m.rematchReads, m.rematchWrites, m.rematchRate, m.rtt*1000)
	fmt.Println("| platform | first full scan | store requests/s | re-match | compute per 1,000 image scans | store requests per 1,000 image scans |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, p := range platforms(*fcConcurrency, *lambdaConcurrency) {
		scan, scanRate := firstScan(p, m)
		rematch := reMatch(p, m)
		store, note := p.storeCost(m)
		fmt.Printf("| %s | %s | %.0f | %s | USD %.4f | USD %.4f (%s) |\n",
			p.name, dur(scan), scanRate, dur(rematch), 1000*computeCost(p, m), 1000*store, note)
	}
	if warm.cpu == 0 {
		return
	}
	warm.images = m.images
	fmt.Printf("\nA scan cycle of the same images, unchanged (per image %.3f CPU-s, %.1f invocations, %.1f reads, %.1f writes, %.1f deletes):\n\n", warm.cpu, warm.invocations, warm.reads, warm.writes, warm.deletes)
	fmt.Println("| platform | the cycle | store requests/s | compute per 1,000 image scans | store requests per 1,000 image scans |")
	fmt.Println("|---|---|---|---|---|")
	for _, p := range platforms(*fcConcurrency, *lambdaConcurrency) {
		cycle, rate := firstScan(p, warm)
		store, note := p.storeCost(warm)
		fmt.Printf("| %s | %s | %.0f | USD %.4f | USD %.4f (%s) |\n", p.name, dur(cycle), rate, 1000*computeCost(p, warm), 1000*store, note)
	}
}

// platforms are Function Compute with OSS and Lambda with S3, at the list
// prices and documented limits named in docs/scale.md.
func platforms(fcConcurrency, lambdaConcurrency float64) []platform {
	// Function Compute 3.0, pay-as-you-go tier 1 list price USD 0.000020 per
	// CU; 1 CU per active vCPU-second, 0.15 per GB-second, 75 per 10,000
	// invocations ("Pay-as-you-go", alibabacloud.com/help/en/functioncompute/
	// fc-3-0/product-overview/pay-as-you-go-billing-method-1, updated
	// 2024-08-27).
	const cu = 0.000020
	fc := platform{
		name: "Function Compute (1 vCPU, 2 GB) + OSS", concurrency: fcConcurrency, vcpu: 1, memGB: 2,
		perInvocation: 75.0 / 10000 * cu, perVCPUSecond: cu, perGBSecond: 0.15 * cu, coldStart: 0.5,
		// OSS: 10,000 requests a second per account to names that are not
		// sequential, 2,000 to sequential ones ("0004-00000302",
		// alibabacloud.com/help/en/oss/user-guide/0004-00000302, updated
		// 2026-03-20). Job objects and scan IDs start with a random part.
		totalLimit: 10000,
		storeCost: func(m measured) (float64, string) {
			// OSS bills PUT-type (uploads, copies, deletes and listings) and
			// GET-type requests, with a free quota of 100 million PUT-type
			// and 500 million GET-type a month ("API operation calling
			// fees", alibabacloud.com/help/en/oss/product-overview/
			// api-operation-calling-fees, as read 2026-12-01); the price
			// above the quota is on the OSS pricing page, not reachable here.
			puts := m.writes + m.deletes
			return 0, fmt.Sprintf("within the free monthly quota up to %.1f million image scans a month", math.Min(100e6/puts, 500e6/m.reads)/1e6)
		},
	}
	// Lambda x86, us-east-1: USD 0.20 per million requests, USD
	// 0.0000166667 per GB-second, one vCPU at 1,769 MB ("How AWS Pricing
	// Works: Lambda", docs.aws.amazon.com/whitepapers, as read 2026-12-01).
	lambda := platform{
		name: "Lambda (1,769 MB ≈ 1 vCPU) + S3", concurrency: lambdaConcurrency, vcpu: 1, memGB: 1.769,
		perInvocation: 0.20 / 1e6, perGBSecond: 0.0000166667, coldStart: 0.5,
		// S3: 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests a
		// second per partitioned prefix; taken as one prefix, which is
		// conservative: S3 partitions further as the load grows.
		writesLimit: 3500, readsLimit: 5500,
		storeCost: func(m measured) (float64, string) {
			// S3 Standard, us-east-1: USD 0.005 per 1,000 PUT, COPY, POST
			// and LIST; USD 0.0004 per 1,000 GET and HEAD; DELETE free (as
			// quoted from aws.amazon.com/s3/pricing by "S3 request fees
			// explained", c3x.dev, read 2026-12-01; AWS's page renders its
			// prices from scripts the reader here does not run).
			return m.writes*0.005/1000 + m.reads*0.0004/1000, "S3 Standard requests"
		},
	}
	return []platform{fc, lambda}
}

// storeSeconds is how long the store takes to serve n images of reads,
// writes and deletes each at its limits.
func storeSeconds(p platform, n, reads, writes, deletes float64) float64 {
	if p.totalLimit > 0 {
		return n * (reads + writes + deletes) / p.totalLimit
	}
	return math.Max(n*reads/p.readsLimit, n*(writes+deletes)/p.writesLimit)
}

// firstScan is the wall time of scanning every image once, and the store
// request rate it runs at: the functions' CPU spread over the instances,
// unless the store's limits are slower.
func firstScan(p platform, m measured) (seconds, rate float64) {
	instances := math.Min(p.concurrency, m.images*m.invocations)
	seconds = m.images*m.cpu/(instances*p.vcpu) + p.coldStart
	seconds = math.Max(seconds, storeSeconds(p, m.images, m.reads, m.writes, m.deletes))
	return seconds, m.images * (m.reads + m.writes + m.deletes) / seconds
}

// reMatch is the wall time of re-matching every image after a DB update:
// planning (the listing, the pointers read planReaders at a time, a job
// per batch queued as many at a time), then the batches, each of which re-reports workers images
// at once, every image a chain of store round trips plus its CPU; unless
// the store's limits are slower.
func reMatch(p platform, m measured) float64 {
	batches := math.Ceil(m.images / batch)
	plan := (math.Ceil(m.images/listPage) + math.Ceil(m.images/planReaders) + math.Ceil(batches/planReaders) + 1) * m.rtt
	perBatch := batch/m.rematchRate + math.Ceil(batch/workers)*(m.rematchReads+m.rematchWrites)*m.rtt
	rounds := math.Ceil(batches / math.Min(p.concurrency, batches))
	work := math.Max(rounds*perBatch+p.coldStart, storeSeconds(p, m.images, m.rematchReads, m.rematchWrites, 0))
	return plan + work
}

// computeCost is the functions' cost of one image's first scan, in USD.
func computeCost(p platform, m measured) float64 {
	seconds := m.cpu / p.vcpu // billed duration per image
	return m.invocations*p.perInvocation + seconds*p.vcpu*p.perVCPUSecond + seconds*p.memGB*p.perGBSecond
}

func dur(s float64) string {
	if s < 120 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.1f min", s/60)
}
