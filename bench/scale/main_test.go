package main

import (
	"math"
	"testing"
)

// TestModel checks the projection against figures worked by hand: which
// bound applies (the functions' CPU or the store's limits) and the
// re-match's planning and batches.
func TestModel(t *testing.T) {
	fc, lambda := platforms(300, 1000)[0], platforms(300, 1000)[1]
	m := measured{images: 10000, cpu: 0.25, invocations: 3.3, reads: 45, writes: 29, deletes: 6, rematchReads: 14, rematchWrites: 3, rematchRate: 178, rtt: 0.01}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.05 {
			t.Errorf("%s: %.2f, want %.2f", name, got, want)
		}
	}
	// OSS: 80 requests an image at 10,000 a second for the account.
	s, rate := firstScan(fc, m)
	near("first scan on OSS", s, 80)
	near("its request rate", rate, 10000)
	// S3: 35 writes and deletes an image at 3,500 a second bound it.
	s, _ = firstScan(lambda, m)
	near("first scan on S3", s, 100)
	// With a store that takes everything, the CPU bounds it: 2,500
	// CPU-seconds over 300 instances, plus a cold start.
	free := fc
	free.totalLimit = 1e12
	s, _ = firstScan(free, m)
	near("first scan bound by CPU", s, 2500.0/300+0.5)
	// Re-match on OSS: planning (10 pages, 313 reads of pointers, 7 rounds
	// of batch jobs, the task) then 17 requests an image at 10,000 a second.
	near("re-match on OSS", reMatch(fc, m), (10+313+7+1)*0.01+17)
	// On S3 the reads bound it: 140,000 at 5,500 a second.
	near("re-match on S3", reMatch(lambda, m), (10+313+7+1)*0.01+140000.0/5500)
	// Costs: S3 requests at USD 0.005 per 1,000 writes and 0.0004 per
	// 1,000 reads; OSS within its free quota.
	c, _ := lambda.storeCost(m)
	near("S3 requests per 1,000 images (USD)", 1000*c, 29*0.005+45*0.0004)
	if c, note := fc.storeCost(m); c != 0 || note == "" {
		t.Errorf("OSS requests: %v %q", c, note)
	}
}
