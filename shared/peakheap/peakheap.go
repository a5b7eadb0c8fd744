// Package peakheap measures the peak of the live heap while a function
// runs, for the benchmarks that state a memory bound (a fix streams its
// layer, whatever the size of the packages). runtime/metrics is sampled
// every 2 ms; a peak shorter than that may be missed.
package peakheap

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// During runs fn after a collection and answers the largest live heap
// (bytes of heap objects) seen while it ran.
func During(fn func()) uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			metrics.Read(s)
			peak.Store(max(peak.Load(), s[0].Value.Uint64()))
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	metrics.Read(s) // at its end, which a short fn may not reach a sample before
	return max(peak.Load(), s[0].Value.Uint64())
}
