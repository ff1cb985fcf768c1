package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
	"github.com/raftkv/raftkv/store"
)

// rid builds a request id of client cid.
func rid(cid string, seq, ack uint64) store.WriteOption {
	return store.WithRequestID(store.RequestID{ClientID: []byte(cid), Seq: seq, MinUnackedSeq: ack})
}

// onceCmd encodes an exactly-once Put or fails the test.
func oncePut(tb testing.TB, key, value string, opts ...store.WriteOption) []byte {
	tb.Helper()
	b, err := store.PutCommand([]byte(key), []byte(value), opts...)
	if err != nil {
		tb.Fatalf("PutCommand(%q): %v", key, err)
	}
	return b
}

// mustDump reads the exactly-once table of s and checks its consistency.
func mustDump(tb testing.TB, s *store.Store) store.SessionTable {
	tb.Helper()
	tab, err := store.DumpSessions(s)
	if err != nil {
		tb.Fatalf("session table: %v", err)
	}
	return tab
}

// equalTables compares two dumps of the exactly-once table.
func equalTables(a, b store.SessionTable) bool {
	if a.Count != b.Count || !reflect.DeepEqual(a.Results, b.Results) || !reflect.DeepEqual(a.LRU, b.LRU) ||
		len(a.Sessions) != len(b.Sessions) {
		return false
	}
	for cid, sa := range a.Sessions {
		if !proto.Equal(sa, b.Sessions[cid]) {
			return false
		}
	}
	return true
}

// TestStore_DuplicateReturnsStoredResult sends each kind of write twice
// under one request id: the repeat changes nothing, not even a ModIndex,
// and answers with the original outcome.
func TestStore_DuplicateReturnsStoredResult(t *testing.T) {
	s := mustOpen(t)
	mustApply(t, s, 1, putCmd(t, "gone", "x"))

	first := mustApply(t, s, 2, oncePut(t, "k", "first", rid("c1", 1, 1)))
	if first.Duplicate || first.WriteIndex() != 2 {
		t.Fatalf("first put = %+v", first)
	}
	// The repeat even carries another value: it must not be applied.
	dup := mustApply(t, s, 3, oncePut(t, "k", "second", rid("c1", 1, 1)))
	if !dup.Duplicate || dup.OriginalIndex != 2 || dup.WriteIndex() != 2 || dup.Index != 3 || dup.Op != store.OpPut || dup.Err != nil {
		t.Fatalf("repeated put = %+v, want Duplicate of index 2", dup)
	}
	if kv, err := s.Get([]byte("k")); err != nil || string(kv.Value) != "first" || kv.ModIndex != 2 {
		t.Fatalf("k = %+v, %v; want first at mod index 2", kv, err)
	}
	if s.AppliedIndex() != 3 {
		t.Fatalf("AppliedIndex = %d, want 3: a duplicate still counts as applied", s.AppliedIndex())
	}

	del, err := store.DeleteCommand([]byte("gone"), rid("c1", 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if res := mustApply(t, s, 4, del); !res.Deleted {
		t.Fatalf("delete = %+v, want Deleted", res)
	}
	mustApply(t, s, 5, putCmd(t, "gone", "back"))
	if res := mustApply(t, s, 6, del); !res.Duplicate || !res.Deleted || res.OriginalIndex != 4 {
		t.Fatalf("repeated delete = %+v, want the original Deleted answer", res)
	}
	if kv, err := s.Get([]byte("gone")); err != nil || string(kv.Value) != "back" {
		t.Fatalf("gone = %+v, %v; the repeat deleted it again", kv, err)
	}

	// A failed compare-and-swap repeats as failed, with the current value
	// read back while the key is unchanged...
	cas := casCmd(t, "k", []byte("nope"), "x", rid("c1", 3, 1))
	res := mustApply(t, s, 7, cas)
	if !res.ConditionFailed || res.Current == nil || string(res.Current.Value) != "first" {
		t.Fatalf("cas = %+v, want failed with current value first", res)
	}
	res = mustApply(t, s, 8, cas)
	if !res.Duplicate || !res.ConditionFailed || res.CurrentValueOmitted || res.Current == nil ||
		string(res.Current.Value) != "first" || res.Current.ModIndex != 2 || res.Current.CreateIndex != 2 {
		t.Fatalf("repeated cas = %+v (current %+v), want failed with the unchanged current value", res, res.Current)
	}
	// ...and with the value omitted once the key has changed: the stored
	// indexes still say what the comparison saw.
	mustApply(t, s, 9, putCmd(t, "k", "nope"))
	res = mustApply(t, s, 10, cas)
	if !res.Duplicate || !res.ConditionFailed || !res.CurrentValueOmitted || res.Current == nil ||
		res.Current.Value != nil || res.Current.ModIndex != 2 {
		t.Fatalf("repeated cas after a change = %+v (current %+v), want failed, indexes of index 2, value omitted", res, res.Current)
	}
	if kv, _ := s.Get([]byte("k")); string(kv.Value) != "nope" {
		t.Fatalf("k = %q: the repeated cas (which would now match) was applied", kv.Value)
	}

	// A successful swap repeats as successful without writing.
	swap := casCmd(t, "k", []byte("nope"), "swapped", rid("c1", 4, 1))
	if res := mustApply(t, s, 11, swap); res.ConditionFailed {
		t.Fatalf("cas = %+v, want swapped", res)
	}
	mustApply(t, s, 12, putCmd(t, "k", "nope"))
	if res := mustApply(t, s, 13, swap); !res.Duplicate || res.ConditionFailed || res.OriginalIndex != 11 {
		t.Fatalf("repeated cas = %+v, want the original success", res)
	}
	if kv, _ := s.Get([]byte("k")); string(kv.Value) != "nope" || kv.ModIndex != 12 {
		t.Fatalf("k = %+v: the repeated cas was applied again", kv)
	}

	// The same seq from another client is another request.
	if res := mustApply(t, s, 14, oncePut(t, "k", "c2", rid("c2", 1, 1))); res.Duplicate {
		t.Fatalf("c2's first put = %+v, want applied", res)
	}
	tab := mustDump(t, s)
	if tab.Count != 2 || !slices.Equal(tab.Results["c1"], []uint64{1, 2, 3, 4}) || !slices.Equal(tab.Results["c2"], []uint64{1}) {
		t.Fatalf("table = %+v", tab)
	}
}

// TestStore_DuplicatePersists checks that the table survives a reopen and
// a snapshot restored into another store: a repeat is recognised there.
func TestStore_DuplicatePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s := mustOpenAt(t, path)
	put := oncePut(t, "k", "v", rid("c1", 7, 7))
	mustApply(t, s, 1, put)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpenAt(t, path)
	if res := mustApply(t, s, 2, put); !res.Duplicate || res.OriginalIndex != 1 {
		t.Fatalf("repeat after reopen = %+v, want Duplicate of index 1", res)
	}
	blob, _ := snapshotBytes(t, s)

	other := mustOpen(t)
	mustApply(t, other, 1, putCmd(t, "unrelated", "x"))
	if err := other.Restore(bytes.NewReader(blob)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if res := mustApply(t, other, 3, put); !res.Duplicate || res.OriginalIndex != 1 {
		t.Fatalf("repeat after restore = %+v, want Duplicate of index 1", res)
	}
	if kv, _ := other.Get([]byte("k")); kv.ModIndex != 1 {
		t.Fatalf("k = %+v, want mod index 1", kv)
	}
	// The repeat moved the client's last use on in both; otherwise equal.
	a, b := mustDump(t, s), mustDump(t, other)
	a.Sessions["c1"].LastIndex, a.LRU = 3, map[uint64]string{3: "c1"}
	if !equalTables(a, b) {
		t.Fatalf("tables differ after restore:\n%+v\n%+v", a, b)
	}
}

// TestStore_AckFloor checks min_unacked_seq: results below it are dropped,
// and a late copy of such a request is refused, never applied.
func TestStore_AckFloor(t *testing.T) {
	s := mustOpen(t)
	for seq := uint64(1); seq <= 3; seq++ {
		mustApply(t, s, seq, oncePut(t, "k", fmt.Sprint(seq), rid("c", seq, 1)))
	}
	if got := mustDump(t, s).Results["c"]; !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("results = %v, want 1..3", got)
	}
	// seq 4 says every seq below 3 is settled.
	mustApply(t, s, 4, oncePut(t, "k", "4", rid("c", 4, 3)))
	if got := mustDump(t, s).Results["c"]; !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("results = %v, want 3 and 4", got)
	}
	res := mustApply(t, s, 5, oncePut(t, "k", "late", rid("c", 2, 1)))
	if !errors.Is(res.Err, store.ErrRequestTooOld) || res.Duplicate {
		t.Fatalf("late seq 2 = %+v, want ErrRequestTooOld", res)
	}
	if kv, _ := s.Get([]byte("k")); string(kv.Value) != "4" || kv.ModIndex != 4 {
		t.Fatalf("k = %+v: the late request was applied", kv)
	}
	// Requests at and above the floor still work: 3 is remembered, 5 is new.
	if res := mustApply(t, s, 6, oncePut(t, "k", "x", rid("c", 3, 3))); !res.Duplicate {
		t.Fatalf("seq 3 = %+v, want Duplicate", res)
	}
	if res := mustApply(t, s, 7, oncePut(t, "k", "5", rid("c", 5, 5))); res.Duplicate || res.Err != nil {
		t.Fatalf("seq 5 = %+v, want applied", res)
	}
	if got := mustDump(t, s).Results["c"]; !slices.Equal(got, []uint64{5}) {
		t.Fatalf("results = %v, want only 5", got)
	}
}

// TestStore_ResultsBound keeps at most the limit of results per client,
// dropping the lowest seqs; a repeat of a dropped one is refused.
func TestStore_ResultsBound(t *testing.T) {
	s := mustOpen(t)
	store.SetSessionLimits(s, 10, 3)
	for seq := uint64(1); seq <= 6; seq++ {
		// No acknowledgements: the client is slow or has many requests in flight.
		mustApply(t, s, seq, oncePut(t, "k", fmt.Sprint(seq), rid("c", seq, 1)))
	}
	tab := mustDump(t, s)
	if got := tab.Results["c"]; !slices.Equal(got, []uint64{4, 5, 6}) || tab.Sessions["c"].GetFloor() != 4 {
		t.Fatalf("results = %v, floor %d; want 4..6 and floor 4", got, tab.Sessions["c"].GetFloor())
	}
	if res := mustApply(t, s, 7, oncePut(t, "k", "again", rid("c", 2, 1))); !errors.Is(res.Err, store.ErrRequestTooOld) {
		t.Fatalf("evicted seq 2 = %+v, want ErrRequestTooOld", res)
	}
	if res := mustApply(t, s, 8, oncePut(t, "k", "again", rid("c", 5, 1))); !res.Duplicate {
		t.Fatalf("seq 5 = %+v, want Duplicate", res)
	}
	if kv, _ := s.Get([]byte("k")); string(kv.Value) != "6" {
		t.Fatalf("k = %q, want 6", kv.Value)
	}
}

// TestStore_SessionsBound keeps at most the limit of clients, evicting the
// one used least recently in log order. An evicted client that names an
// index it was answered at is refused (ErrSessionExpired), not applied.
func TestStore_SessionsBound(t *testing.T) {
	s := mustOpen(t)
	store.SetSessionLimits(s, 3, 10)
	mustApply(t, s, 1, oncePut(t, "a", "1", rid("a", 1, 1)))
	mustApply(t, s, 2, oncePut(t, "b", "1", rid("b", 1, 1)))
	mustApply(t, s, 3, oncePut(t, "c", "1", rid("c", 1, 1)))
	mustApply(t, s, 4, oncePut(t, "a", "2", rid("a", 2, 2))) // a is now newer than b
	mustApply(t, s, 5, oncePut(t, "d", "1", rid("d", 1, 1))) // evicts b
	tab := mustDump(t, s)
	if tab.Count != 3 || tab.Sessions["b"] != nil || tab.Sessions["a"] == nil {
		t.Fatalf("table = %+v, want a, c and d", tab)
	}

	expired, err := store.PutCommand([]byte("b"), []byte("again"), store.WithRequestID(store.RequestID{
		ClientID: []byte("b"), Seq: 1, MinUnackedSeq: 1, SessionIndex: 2,
	}))
	if err != nil {
		t.Fatal(err)
	}
	res := mustApply(t, s, 6, expired)
	if !errors.Is(res.Err, store.ErrSessionExpired) {
		t.Fatalf("evicted client = %+v, want ErrSessionExpired", res)
	}
	if kv, _ := s.Get([]byte("b")); string(kv.Value) != "1" || kv.ModIndex != 2 {
		t.Fatalf("b = %+v: the request of the expired session was applied", kv)
	}
	if mustDump(t, s).Sessions["b"] != nil {
		t.Fatal("a refused request recreated the expired session")
	}
	// Without a session index the client is taken as new (DESIGN.md says
	// why the Go client always sends one once it has it).
	if res := mustApply(t, s, 7, oncePut(t, "e", "1", rid("e", 1, 1))); res.Err != nil {
		t.Fatalf("new client = %+v", res)
	}
	if tab := mustDump(t, s); tab.Count != 3 || tab.Sessions["c"] != nil {
		t.Fatalf("table = %+v, want c evicted next", tab)
	}
}

// TestStore_InvalidRequestID checks that the constructors refuse a bad
// request id and that Apply rejects one that slipped past them without
// creating a session.
func TestStore_InvalidRequestID(t *testing.T) {
	for name, id := range map[string]store.RequestID{
		"empty client id":   {Seq: 1},
		"long client id":    {ClientID: bytes.Repeat([]byte("c"), store.MaxClientIDBytes+1), Seq: 1},
		"seq zero":          {ClientID: []byte("c")},
		"ack above seq":     {ClientID: []byte("c"), Seq: 2, MinUnackedSeq: 3},
		"ack far above seq": {ClientID: []byte("c"), Seq: 1, MinUnackedSeq: 9},
	} {
		if _, err := store.PutCommand([]byte("k"), nil, store.WithRequestID(id)); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("%s: PutCommand error = %v, want ErrInvalidArgument", name, err)
		}
	}
	s := mustOpen(t)
	bad := mustMarshal(t, &fsmpb.Command{Format: 2,
		Op:        &fsmpb.Command_Put{Put: &fsmpb.Put{Key: []byte("k")}},
		RequestId: &fsmpb.RequestID{ClientId: []byte("c")},
	})
	res := mustApply(t, s, 1, bad)
	if !errors.Is(res.Err, store.ErrInvalidArgument) || res.Op != store.OpPut {
		t.Fatalf("Apply = %+v, want ErrInvalidArgument", res)
	}
	if tab := mustDump(t, s); tab.Count != 0 {
		t.Fatalf("table = %+v, want empty", tab)
	}
}

// TestStore_CommandFormats checks which format each command is written
// in: plain writes stay readable by binaries that only know format 1, and
// a format-1 entry that uses newer fields is corrupt.
func TestStore_CommandFormats(t *testing.T) {
	format := func(b []byte) uint32 {
		var cmd fsmpb.Command
		if err := proto.Unmarshal(b, &cmd); err != nil {
			t.Fatal(err)
		}
		return cmd.GetFormat()
	}
	for name, tc := range map[string]struct {
		data []byte
		want uint32
	}{
		"put":              {putCmd(t, "k", "v"), 1},
		"delete":           {delCmd(t, "k"), 1},
		"node meta":        {metaCmd(t, "n1", "g", "r"), 1},
		"put once":         {oncePut(t, "k", "v", rid("c", 1, 1)), 2},
		"put if":           {putIfCmd(t, "k", "v", 0), 2},
		"delete if":        {delIfCmd(t, "k", 3), 2},
		"compare-and-swap": {casCmd(t, "k", nil, "v"), 2},
	} {
		if got := format(tc.data); got != tc.want {
			t.Errorf("%s: format %d, want %d", name, got, tc.want)
		}
	}
	s := mustOpen(t)
	for name, cmd := range map[string]*fsmpb.Command{
		"request id": {Format: 1, Op: &fsmpb.Command_Put{Put: &fsmpb.Put{Key: []byte("k")}},
			RequestId: &fsmpb.RequestID{ClientId: []byte("c"), Seq: 1}},
		"cas": {Format: 1, Op: &fsmpb.Command_CompareAndSwap{CompareAndSwap: &fsmpb.CompareAndSwap{Key: []byte("k")}}},
	} {
		if _, err := s.Apply(1, mustMarshal(t, cmd)); !errors.Is(err, store.ErrCorruptEntry) {
			t.Errorf("format 1 with %s: error = %v, want ErrCorruptEntry", name, err)
		}
	}
}

// TestStore_SessionsDeterministic applies one mixed history to two stores
// and checks that they end with the same data and the same table.
func TestStore_SessionsDeterministic(t *testing.T) {
	var entries [][]byte
	for i := range 60 {
		cid := fmt.Sprintf("c%d", i%7)
		seq := uint64(i/7 + 1)
		ack := max(seq, 2) - 1
		switch i % 3 {
		case 0:
			entries = append(entries, oncePut(t, fmt.Sprintf("k%d", i%5), fmt.Sprint(i), rid(cid, seq, ack)))
		case 1:
			entries = append(entries, casCmd(t, fmt.Sprintf("k%d", i%5), nil, fmt.Sprint(i), rid(cid, seq, ack)))
		default:
			entries = append(entries, oncePut(t, "dup", fmt.Sprint(i), rid("c0", 1, 1)))
		}
	}
	var tabs []store.SessionTable
	var states []state
	for range 2 {
		s := mustOpen(t)
		store.SetSessionLimits(s, 4, 2)
		for i, e := range entries {
			mustApply(t, s, uint64(i+1), e)
		}
		tabs = append(tabs, mustDump(t, s))
		states = append(states, mustState(t, s))
	}
	assertState(t, states[1], states[0])
	if !equalTables(tabs[0], tabs[1]) {
		t.Fatalf("tables differ:\n%+v\n%+v", tabs[0], tabs[1])
	}
	if tabs[0].Count != 4 {
		t.Fatalf("table holds %d sessions, want the limit 4", tabs[0].Count)
	}
}

// TestStore_RestoreSnapshotWithoutSessionBuckets restores a snapshot taken
// before the exactly-once buckets existed: it is valid, and the table
// starts empty and works.
func TestStore_RestoreSnapshotWithoutSessionBuckets(t *testing.T) {
	old := mustOpen(t)
	mustApply(t, old, 1, putCmd(t, "k", "v"))
	if err := store.DropSessionBuckets(old); err != nil {
		t.Fatal(err)
	}
	blob, _ := snapshotBytes(t, old)

	s := mustOpen(t)
	if err := s.Restore(bytes.NewReader(blob)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if tab := mustDump(t, s); tab.Count != 0 || len(tab.Sessions) != 0 {
		t.Fatalf("table = %+v, want empty", tab)
	}
	put := oncePut(t, "k", "w", rid("c", 1, 1))
	mustApply(t, s, 2, put)
	if res := mustApply(t, s, 3, put); !res.Duplicate {
		t.Fatalf("repeat = %+v, want Duplicate", res)
	}
}
