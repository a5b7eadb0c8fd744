package test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkFunctionStartToReady measures what a cold start costs before
// FC can deliver a request: from exec of a function binary to its port
// accepting connections (the custom runtime's readiness). Binaries are
// built as `make functions` does (stripped).
func BenchmarkFunctionStartToReady(b *testing.B) {
	for _, fn := range []string{"analyze-layer", "scan-api", "janitor"} {
		b.Run(fn, func(b *testing.B) {
			dir := b.TempDir()
			bin := filepath.Join(dir, "bootstrap")
			if out, err := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "../functions/"+fn).CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, out)
			}
			storeDir := b.TempDir()
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				port := freePort(b)
				cmd := exec.Command(bin)
				cmd.Env = append(os.Environ(), "FC_SERVER_PORT="+port, "LAYERSCAN_LISTEN_HOST=127.0.0.1", "LAYERSCAN_STORE=file://"+storeDir)
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				for {
					c, err := net.Dial("tcp", "127.0.0.1:"+port)
					if err == nil {
						c.Close()
						break
					}
					if time.Since(start) > 10*time.Second {
						b.Fatal("not ready after 10 s")
					}
					time.Sleep(500 * time.Microsecond)
				}
				total += time.Since(start)
				cmd.Process.Kill()
				cmd.Wait()
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-to-ready")
			// Metrics reported before ResetTimer are dropped: report it last.
			if st, err := os.Stat(bin); err == nil {
				b.ReportMetric(float64(st.Size())/(1<<20), "binary-MiB")
			}
		})
	}
}
