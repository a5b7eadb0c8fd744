package settings

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/storekey"
)

func TestParseNamesTheField(t *testing.T) {
	for doc, field := range map[string]string{
		`{"scan":{"cycle":"1d"}}`:                                    "scan.cycle",
		`{"scan":{"scope":[{"namespaces":["ok"],"tagRegex":"(["}]}}`: "scan.scope[0].tagRegex",
		`{"scan":{"scope":[{},{"repositories":["Bad Name"]}]}}`:      "scan.scope[1].repositories[0]",
		`{"quota":{"purchased":-1}}`:                                 "quota.purchased",
		`{"scan":{"timeRangeDays":-3}}`:                              "scan.timeRangeDays",
		`{"checks":{"disabledChecks":["LS-NOT-A-CHECK"]}}`:           "checks",
		`{"scna":{}}`:                   "document",
		`{"task":{"timeoutMinutes":0}}`: "task.timeoutMinutes",
	} {
		_, err := Parse([]byte(doc))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a %s error", doc, err, field)
		}
	}
	s, err := Parse([]byte(`{"quota":{"purchased":5}}`))
	if err != nil || *s.Quota.Purchased != 5 || s.Scan.Cycle != OneWeek || !s.Checks.MaliciousSamples || s.Task.TimeoutMinutes != 240 {
		t.Errorf("defaults not kept: %+v %v", s, err)
	}
}

func TestScope(t *testing.T) {
	s, err := Parse([]byte(`{"scan":{"scope":[
		{"registry":"reg1","namespaces":["team"],"tagRegex":"v[0-9]+"},
		{"registry":"localhost:5000","repositories":["other/app"]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	c1 := Connection{ID: "reg1", Hosts: []string{"r1.example"}}
	c2 := Connection{ID: "reg2", Hosts: []string{"localhost:5000"}}
	for _, tc := range []struct {
		c         Connection
		repo, tag string
		want      bool
	}{
		{c1, "team/app", "v1", true},
		{c1, "team/app", "v1-rc", false}, // the regex matches the whole tag
		{c1, "team/sub/app", "v22", true},
		{c1, "teamx/app", "v1", false},
		{c1, "other/app", "v1", false},
		{c2, "other/app", "anything", true},
		{c2, "team/app", "v1", false},
	} {
		if got := s.Scan.InScope(tc.c, tc.repo, tc.tag); got != tc.want {
			t.Errorf("%s %s:%s = %v", tc.c.ID, tc.repo, tc.tag, got)
		}
	}
	if !Default().Scan.InScope(c1, "x/y", "z") {
		t.Error("no rules should cover everything")
	}
}

func TestCycles(t *testing.T) {
	s := Default().Scan
	s.CycleAnchor = "2026-12-01T00:00:00Z"
	at := func(v string) time.Time { t, _ := time.Parse(time.RFC3339, v); return t }
	a, _, _ := s.CycleAt(at("2026-12-01T10:00:00Z"))
	b, _, _ := s.CycleAt(at("2026-12-07T23:00:00Z"))
	c, start, _ := s.CycleAt(at("2026-12-08T00:00:01Z"))
	if a != b || b == c || !start.Equal(at("2026-12-08T00:00:00Z")) {
		t.Errorf("weekly cycles: %s %s %s from %s", a, b, c, start)
	}
	s.Cycle = Stop
	if id, start, ok := s.CycleAt(at("2026-12-09T00:00:00Z")); ok || id != "month-202612" || start.Day() != 1 {
		t.Errorf("stopped: %s %v %v", id, start, ok)
	}
}

func TestSaveIsACompareAndSwap(t *testing.T) {
	st, _ := store.NewFS(t.TempDir())
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s0, err := Load(ctx, st)
	if err != nil || s0.Version != 0 {
		t.Fatal(s0.Version, err)
	}
	s1, err := Save(ctx, st, Default(), s0.Version, "admin", now)
	if err != nil || s1.Version != 1 || s1.Scan.CycleAnchor == "" {
		t.Fatal(s1, err)
	}
	if _, err := Save(ctx, st, Default(), 0, "late", now); !errors.Is(err, ErrConflict) {
		t.Errorf("a stale base: %v", err)
	}
	// Ten writers on the same base: exactly one wins.
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Save(ctx, st, Default(), 1, "racer", now); err == nil {
				won.Add(1)
			} else if !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("%d writers won", won.Load())
	}
	got, _ := Load(ctx, st)
	if got.Version != 2 || got.Scan.CycleAnchor != s1.Scan.CycleAnchor {
		t.Errorf("current %d, anchor %s (an unchanged cycle keeps its anchor)", got.Version, got.Scan.CycleAnchor)
	}
	off := Default()
	off.Scan.AutoAddRepositories = false
	frozen, _ := Save(ctx, st, off, -1, "admin", now.Add(time.Hour))
	if frozen.Scan.ScopeFrozenAt != now.Add(time.Hour).Format(time.RFC3339) {
		t.Errorf("frozen at %q", frozen.Scan.ScopeFrozenAt)
	}
	if !frozen.Scan.Frozen(now.Add(2*time.Hour)) || frozen.Scan.Frozen(now) {
		t.Error("freeze")
	}
}

func TestLegacyPeriodicScope(t *testing.T) {
	st, _ := store.NewFS(t.TempDir())
	ctx := context.Background()
	store.PutJSON(ctx, st, storekey.Periodic, map[string]any{"targets": []map[string]any{{"registry": "h:5000", "repositories": []string{"a/b"}, "tags": []string{"v1.*", "latest"}}}})
	s, err := Load(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	c := Connection{ID: "x", Hosts: []string{"h:5000"}}
	if !s.Scan.InScope(c, "a/b", "v1.2") || !s.Scan.InScope(c, "a/b", "latest") || s.Scan.InScope(c, "a/b", "v2") || s.Scan.InScope(c, "a/c", "latest") {
		t.Errorf("legacy scope: %+v", s.Scan.Scope)
	}
	if !strings.HasPrefix(s.Scan.Scope[0].TagRegex, `v1\.`) {
		t.Errorf("regex %s", s.Scan.Scope[0].TagRegex)
	}
}

func TestETag(t *testing.T) {
	if n, err := ParseETag(ETag(7)); n != 7 || err != nil {
		t.Error(n, err)
	}
	if n, _ := ParseETag("*"); n != -1 {
		t.Error(n)
	}
	if _, err := ParseETag(`"7"`); err == nil {
		t.Error("a foreign ETag parsed")
	}
}

// FuzzParse: any document either fails with a field error or validates
// and answers scope and cycle questions without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"scan":{"cycle":"2w","scope":[{"registry":"r","namespaces":["a"],"tagRegex":"v.*"}],"timeRangeDays":3},"quota":{"purchased":10}}`))
	f.Add([]byte(`{"checks":{"disabledChecks":["LS-BASELINE-SUID"],"sensitiveFiles":false}}`))
	f.Add([]byte(`{"scan":{"scope":[{"tagRegex":"(a+)+$"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("an error without a field: %v", err)
			}
			return
		}
		s.Scan.InScope(Connection{ID: "r", Hosts: []string{"h"}}, "a/b", "v1")
		s.Scan.CycleAt(time.Now())
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed but invalid: %v", err)
		}
	})
}
