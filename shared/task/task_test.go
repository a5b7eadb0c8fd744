package task

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/store"
)

func newTask(t *testing.T, n int) (store.Store, *Task) {
	st, _ := store.NewFS(t.TempDir())
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tk := &Task{ID: NewID(now), Type: ScanNow, Trigger: "test", Created: now.Format(time.RFC3339), Deadline: now.Add(4 * time.Hour).Format(time.RFC3339)}
	for i := range n {
		tk.Items = append(tk.Items, Item{Registry: "r", Host: "h:5000", Repository: "ns/app", Tag: fmt.Sprint("v", i)})
	}
	if ok, err := Create(context.Background(), st, tk); !ok || err != nil {
		t.Fatal(ok, err)
	}
	return st, tk
}

func TestStatusFromRecords(t *testing.T) {
	ctx := context.Background()
	at := time.Now()
	for _, tc := range []struct {
		name   string
		write  func(st store.Store, id string)
		status string
	}{
		{"nothing yet", func(store.Store, string) {}, Running},
		{"all succeeded, one skipped", func(st store.Store, id string) {
			for i := range 2 {
				Admit(ctx, st, id, i, Admission{Outcome: Scanning})
				Planned(ctx, st, id, i, []string{fmt.Sprint("s", i)}, at)
				Finished(ctx, st, id, i, ScanResult{ScanID: fmt.Sprint("s", i), Complete: true})
			}
			Admit(ctx, st, id, 2, Admission{Outcome: Skipped, Reason: ReasonTimeRange})
		}, Succeeded},
		{"one failed", func(st store.Store, id string) {
			Planned(ctx, st, id, 0, []string{"a", "b"}, at) // two platforms
			Finished(ctx, st, id, 0, ScanResult{ScanID: "a", Complete: true})
			Finished(ctx, st, id, 0, ScanResult{ScanID: "b", Complete: false, Errors: []string{"layer 2 failed"}})
			PlanFailed(ctx, st, id, 1, errors.New("manifest unknown"), at)
			Planned(ctx, st, id, 2, []string{"c"}, at)
			Finished(ctx, st, id, 2, ScanResult{ScanID: "c", Complete: true})
		}, PartiallyFailed},
		{"all failed", func(st store.Store, id string) {
			for i := range 3 {
				PlanFailed(ctx, st, id, i, errors.New("gone"), at)
			}
		}, Failed},
		{"timed out", func(st store.Store, id string) {
			Admit(ctx, st, id, 0, Admission{Outcome: Skipped, Reason: ReasonTimeout})
			Admit(ctx, st, id, 1, Admission{Outcome: QuotaExhausted})
			PlanFailed(ctx, st, id, 2, errors.New("x"), at)
		}, TimedOut},
	} {
		st, tk := newTask(t, 3)
		tc.write(st, tk.ID)
		v, err := Read(ctx, st, tk)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != tc.status {
			t.Errorf("%s: %s %+v", tc.name, v.Status, v.Counts)
		}
		if err := Close(ctx, st, v); err != nil {
			t.Fatal(err)
		}
		open, _ := Open(ctx, st)
		if (len(open) == 1) != (tc.status == Running) {
			t.Errorf("%s: open %v", tc.name, open)
		}
	}
}

// TestAdmissionIsDecidedOnce: racing instances, one decision per image.
func TestAdmissionIsDecidedOnce(t *testing.T) {
	st, tk := newTask(t, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcome := Scanning
			if i%2 == 0 {
				outcome = Skipped
			}
			ok, err := Admit(context.Background(), st, tk.ID, 0, Admission{Outcome: outcome, Reason: ReasonTimeout})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d decisions", won)
	}
	if _, err := Load(context.Background(), st, "../x"); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
}

// TestRematchItemsArePlannedByTheTask: an item that names the scan it
// reuses is running from the task's creation, with no record written, and
// finishes with its result; a record written by an older version still
// counts.
func TestRematchItemsArePlannedByTheTask(t *testing.T) {
	ctx := context.Background()
	st, _ := store.NewFS(t.TempDir())
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tk := &Task{ID: "rematch-v1-abc", Type: Rematch, Trigger: "test", Created: now.Format(time.RFC3339), Deadline: now.Add(time.Hour).Format(time.RFC3339)}
	for i := range 100 {
		tk.Items = append(tk.Items, Item{Repository: fmt.Sprint("app", i), Scan: fmt.Sprint("s", i)})
	}
	if ok, err := Create(ctx, st, tk); !ok || err != nil {
		t.Fatal(ok, err)
	}
	v, err := Read(ctx, st, tk)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != Running || v.Counts.Running != 100 || v.Log[7].Status != Scanning || len(v.Log[7].ScanIDs) != 1 || v.Log[7].ScanIDs[0] != "s7" || v.Log[7].Updated != tk.Created {
		t.Fatalf("before any result: %s %+v %+v", v.Status, v.Counts, v.Log[7])
	}
	Planned(ctx, st, tk.ID, 3, []string{"s3"}, now.Add(time.Minute)) // an older version's record
	for i := range 100 {
		Finished(ctx, st, tk.ID, i, ScanResult{ScanID: fmt.Sprint("s", i), Complete: i != 5, At: now.Add(2 * time.Minute).Format(time.RFC3339)})
	}
	if v, err = Read(ctx, st, tk); err != nil {
		t.Fatal(err)
	}
	if v.Status != PartiallyFailed || v.Counts.Succeeded != 99 || v.Counts.Failed != 1 || v.Log[5].Status != ImageFailed {
		t.Errorf("after the results: %s %+v", v.Status, v.Counts)
	}
	for i, e := range v.Log {
		if e.Item != i {
			t.Fatalf("entry %d is item %d: the log is out of order", i, e.Item)
		}
	}
}

// countingGets counts the objects read.
type countingGets struct {
	store.Store
	mu   sync.Mutex
	gets int
}

func (c *countingGets) Get(ctx context.Context, k string) ([]byte, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Store.Get(ctx, k)
}

func (c *countingGets) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.gets
	c.gets = 0
	return n
}

// TestFinalsReadOnlyWhatMayChange: a view read again reads no record of
// an image whose entry is final, and the view is the same as a fresh one.
func TestFinalsReadOnlyWhatMayChange(t *testing.T) {
	ctx := context.Background()
	fs, _ := store.NewFS(t.TempDir())
	st := &countingGets{Store: fs}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tk := &Task{ID: "rematch-v2-abc", Type: Rematch, Created: now.Format(time.RFC3339), Deadline: now.Add(time.Hour).Format(time.RFC3339)}
	for i := range 100 {
		tk.Items = append(tk.Items, Item{Repository: fmt.Sprint("app", i), Scan: fmt.Sprint("s", i)})
	}
	Create(ctx, st, tk)
	finish := func(from, to int) {
		for i := from; i < to; i++ {
			Finished(ctx, fs, tk.ID, i, ScanResult{ScanID: fmt.Sprint("s", i), Complete: true, At: now.Format(time.RFC3339)})
		}
	}
	var f Finals
	finish(0, 60)
	st.take()
	if v, _ := f.Read(ctx, st, tk); v.Counts.Succeeded != 60 || st.take() != 60 {
		t.Fatalf("first read: %+v", v.Counts)
	}
	if v, _ := f.Read(ctx, st, tk); v.Counts.Succeeded != 60 {
		t.Fatalf("second read: %+v", v.Counts)
	}
	if n := st.take(); n != 0 {
		t.Errorf("the second read read %d records of final entries", n)
	}
	finish(60, 100)
	v, _ := f.Read(ctx, st, tk)
	if n := st.take(); n != 40 || v.Status != Succeeded {
		t.Errorf("after the rest finished: %d records read, %s", n, v.Status)
	}
	fresh, _ := Read(ctx, fs, tk)
	if fmt.Sprint(fresh) != fmt.Sprint(v) {
		t.Errorf("the kept view differs from a fresh one:\n%+v\n%+v", v, fresh)
	}
	if _, ok := f.get(tk.ID+"@"+tk.Created, 0); !ok {
		t.Fatal("the task's final entries are not kept")
	}
	for i := range finalsTasks { // the bound: the oldest task is dropped
		f.keep(fmt.Sprint("t", i), Entry{Item: 0, Status: ImageSucceeded})
	}
	if _, ok := f.get(tk.ID+"@"+tk.Created, 0); ok || len(f.tasks) != finalsTasks {
		t.Errorf("%d tasks kept, the oldest still there: %v", len(f.tasks), ok)
	}
}
