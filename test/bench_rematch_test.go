package test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/builtin"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
	"github.com/layerscan/layerscan/shared/suite"
)

// BenchmarkRematchFleet re-matches 1,000 stored images made from the
// corpus images' facts (each a scan of its own digest over the corpus
// layers), as a re-match task does after an advisory update, in batches of
// suite.RematchBatch, with 1 and 2 instances working at once. It reports
// images re-matched per second and the fleet's wall time.
func BenchmarkRematchFleet(b *testing.B) {
	const fleet = 1000
	dir := b.TempDir()
	copyDB(b, dir)
	st, _ := store.NewFS(dir)
	ctx := context.Background()
	d := &pipeline.Steps{Store: st, Analyzers: builtin.Set(), Sources: builtin.Sources()}
	var seeds []scanrecord.State
	for _, name := range []string{"debian-bookworm-app", "alpine-3.9-app.tar", "ubuntu-24.04-noble", "rpm-rhel-8.8-bdb.tar"} {
		src := corpusImage(b, name)
		if _, err := d.ScanLocal(ctx, scanrecord.Request{Source: src}, 2); err != nil {
			b.Fatal(err)
		}
	}
	scans, _ := st.List(ctx, storekey.ScansPrefix)
	for _, k := range scans {
		if id, f, ok := storekey.ScanFile(k); ok && f == storekey.StateFile {
			s, err := scanrecord.LoadState(ctx, st, id)
			if err != nil {
				b.Fatal(err)
			}
			seeds = append(seeds, s)
		}
	}
	// The fleet: each image its own digest and scan, over a seed's layers.
	var items []pipeline.RematchItem
	for i := range fleet {
		s := seeds[i%len(seeds)]
		sum := sha256.Sum256([]byte(fmt.Sprint("fleet", i)))
		cfg, _ := st.Get(ctx, storekey.ImageConfig(s.Digest))
		s.ID, s.Digest, s.Ref = fmt.Sprintf("fleet-%04d", i), "sha256:"+hex.EncodeToString(sum[:]), fmt.Sprintf("fleet.local/app%d:1", i)
		st.Put(ctx, storekey.ImageConfig(s.Digest), cfg)
		store.PutJSON(ctx, st, storekey.ScanState(s.ID), s)
		for diffID := range s.DiffIDs() {
			store.PutJSON(ctx, st, storekey.Done(s.ID, diffID), scanrecord.Marker{DiffID: diffID, Status: scanrecord.Cached})
		}
		items = append(items, pipeline.RematchItem{Item: i, ScanID: s.ID})
	}
	for _, instances := range []int{1, 2} {
		b.Run(fmt.Sprint("instances=", instances), func(b *testing.B) {
			for n := range b.N {
				b.StopTimer()
				// Reports were written by the last run: a new policy
				// fingerprint is what a new DB is to reuse, so remove them.
				removeAll(ctx, st, storekey.ReportsPrefix)
				b.StartTimer()
				start := time.Now()
				batches := make(chan []pipeline.RematchItem)
				var wg sync.WaitGroup
				for range instances {
					wg.Add(1)
					go func() {
						defer wg.Done()
						steps := &pipeline.Steps{Store: st}
						for batch := range batches {
							if err := steps.Rematch(ctx, fmt.Sprint("rematch-bench-", instances, "-", n), batch); err != nil {
								b.Error(err)
							}
						}
					}()
				}
				for i := 0; i < len(items); i += 50 {
					batches <- items[i:min(i+50, len(items))]
				}
				close(batches)
				wg.Wait()
				wall := time.Since(start)
				b.ReportMetric(float64(fleet)/wall.Seconds(), "images/s")
				b.ReportMetric(wall.Seconds(), "fleet-wall-s")
			}
		})
	}
}

// slowStore adds a round trip's latency to every request, as an object
// store in the same region has and a folder does not.
type slowStore struct {
	store.Store
	rtt time.Duration
}

func (s slowStore) Get(ctx context.Context, k string) ([]byte, error) {
	time.Sleep(s.rtt)
	return s.Store.Get(ctx, k)
}

func (s slowStore) Put(ctx context.Context, k string, b []byte) error {
	time.Sleep(s.rtt)
	return s.Store.Put(ctx, k, b)
}

func (s slowStore) PutIfAbsent(ctx context.Context, k string, b []byte) (bool, error) {
	time.Sleep(s.rtt)
	return s.Store.PutIfAbsent(ctx, k, b)
}

func (s slowStore) Exists(ctx context.Context, k string) (bool, error) {
	time.Sleep(s.rtt)
	return s.Store.Exists(ctx, k)
}

func (s slowStore) List(ctx context.Context, p string) ([]string, error) {
	time.Sleep(s.rtt)
	return s.Store.List(ctx, p)
}

func (s slowStore) Delete(ctx context.Context, k string) error {
	time.Sleep(s.rtt)
	return s.Store.Delete(ctx, k)
}

// BenchmarkRematchPlan measures what a re-match does before its first
// batch runs: list the stored images, read each latest pointer, create
// the task and queue its batches, for 1,000 images on a store with a 5 ms
// round trip. The baseline, measured in the same run, is one round trip
// per image one after another (the floor of a serial read of the fleet);
// plan÷serial below 1 is the speed-up of reading pointers concurrently
// and writing no per-image records.
func BenchmarkRematchPlan(b *testing.B) {
	const fleet, rtt = 1000, 5 * time.Millisecond
	dir := b.TempDir()
	copyDB(b, dir)
	fs, _ := store.NewFS(dir)
	ctx := context.Background()
	for i := range fleet {
		sum := sha256.Sum256([]byte(fmt.Sprint("plan", i)))
		l := pipeline.Latest{ScanID: fmt.Sprintf("plan-%04d", i), Ref: fmt.Sprintf("fleet.local/app%d:1", i), DBVersion: "an older DB", Created: time.Now().UTC().Format(time.RFC3339)}
		store.PutJSON(ctx, fs, storekey.ImageLatest("sha256:"+hex.EncodeToString(sum[:])), l)
	}
	slow := slowStore{fs, rtt}
	start := time.Now()
	for range fleet {
		slow.Exists(ctx, storekey.ImageLatest("sha256:0"))
	}
	serial := time.Since(start)
	e := newSuiteEnv(suite.Config{}, slow, nil, nopLogger())
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		removeAll(ctx, fs, storekey.TasksPrefix) // the last run's task
		b.StartTimer()
		start := time.Now()
		v, err := e.StartRematch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		if v.Counts.Total != fleet {
			b.Fatalf("the re-match covers %d images, not %d", v.Counts.Total, fleet)
		}
		b.ReportMetric(wall.Seconds(), "plan-s")
		b.ReportMetric(serial.Seconds(), "serial-s")
		b.ReportMetric(wall.Seconds()/serial.Seconds(), "plan/serial")
	}
}

// removeAll deletes every object under prefix.
func removeAll(ctx context.Context, st store.Store, prefix string) {
	keys, _ := st.List(ctx, prefix)
	for _, k := range keys {
		st.Delete(ctx, k)
	}
}
