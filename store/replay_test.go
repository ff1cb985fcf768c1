package store_test

import (
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// TestStore_ReplayAfterReopen simulates a restart in which raft replays
// log entries the bbolt file already holds: every one must be skipped and
// nothing may change, not even a ModIndex.
func TestStore_ReplayAfterReopen(t *testing.T) {
	entries := [][]byte{
		putCmd(t, "a", "1"),
		putCmd(t, "b", "2"),
		putCmd(t, "a", "3"),
		delCmd(t, "b"),
		metaCmd(t, "n1", "g:1", "r:1"),
		delCmd(t, "never-existed"),
		putCmd(t, "c", ""),
	}
	path := filepath.Join(t.TempDir(), "kv.db")

	s := mustOpenAt(t, path)
	for i, e := range entries {
		mustApply(t, s, uint64(i+1), e)
	}
	want := mustState(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpenAt(t, path)
	if got := s.AppliedIndex(); got != uint64(len(entries)) {
		t.Fatalf("AppliedIndex after reopen = %d, want %d", got, len(entries))
	}
	assertState(t, mustState(t, s), want)
	for i, e := range entries {
		index := uint64(i + 1)
		if res := mustApply(t, s, index, e); res != (store.Result{Index: index, Skipped: true}) {
			t.Fatalf("replay of %d = %+v, want Skipped", index, res)
		}
	}
	assertState(t, mustState(t, s), want)

	// The next new entry applies normally and keeps CreateIndex.
	next := uint64(len(entries) + 1)
	mustApply(t, s, next, putCmd(t, "a", "4"))
	kv, err := s.Get([]byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if kv.CreateIndex != 1 || kv.ModIndex != next || string(kv.Value) != "4" {
		t.Fatalf("a = %+v, want create 1, mod %d, value 4", kv, next)
	}
}
