package peakheap

import "testing"

var sink []byte

// TestDuringSeesAnAllocation: a 64 MiB buffer held while fn runs is in
// the peak.
func TestDuringSeesAnAllocation(t *testing.T) {
	const size = 64 << 20
	peak := During(func() {
		sink = make([]byte, size)
		for i := range sink {
			sink[i] = byte(i)
		}
	})
	sink = nil
	if peak < size {
		t.Errorf("peak %d bytes, below the %d held", peak, size)
	}
}
