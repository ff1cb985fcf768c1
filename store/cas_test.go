package store_test

import (
	"errors"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// casCmd encodes a CompareAndSwap or fails the test. expected nil means
// "the key must not exist".
func casCmd(tb testing.TB, key string, expected []byte, value string, opts ...store.WriteOption) []byte {
	tb.Helper()
	b, err := store.CompareAndSwapCommand([]byte(key), expected, []byte(value), opts...)
	if err != nil {
		tb.Fatalf("CompareAndSwapCommand(%q): %v", key, err)
	}
	return b
}

// putIfCmd encodes a Put conditional on the key's mod index.
func putIfCmd(tb testing.TB, key, value string, modIndex uint64) []byte {
	tb.Helper()
	b, err := store.PutCommand([]byte(key), []byte(value), store.IfModIndex(modIndex))
	if err != nil {
		tb.Fatalf("PutCommand(%q, IfModIndex(%d)): %v", key, modIndex, err)
	}
	return b
}

// delIfCmd encodes a Delete conditional on the key's mod index.
func delIfCmd(tb testing.TB, key string, modIndex uint64) []byte {
	tb.Helper()
	b, err := store.DeleteCommand([]byte(key), store.IfModIndex(modIndex))
	if err != nil {
		tb.Fatalf("DeleteCommand(%q, IfModIndex(%d)): %v", key, modIndex, err)
	}
	return b
}

// TestStore_Conditions runs compare-and-swap and mod-index conditions
// against one store in sequence. A condition that fails is an outcome
// (ConditionFailed, with the key's current state), never an error, and
// writes nothing; the applied index advances either way.
func TestStore_Conditions(t *testing.T) {
	s := mustOpen(t)
	kv := func(key, value string, create, mod uint64) *store.KeyValue {
		return &store.KeyValue{Key: []byte(key), Value: []byte(value), CreateIndex: create, ModIndex: mod}
	}
	steps := []struct {
		name   string
		index  uint64
		data   []byte
		failed bool
		// current is the Current a failed step reports (nil: key missing).
		current *store.KeyValue
		deleted bool
		// after is the key's state after the step; nil means missing.
		after *store.KeyValue
	}{
		{"cas missing key expecting a value fails", 1, casCmd(t, "k", []byte("x"), "v"), true, nil, false, nil},
		{"cas nil creates a missing key", 2, casCmd(t, "k", nil, "a"), false, nil, false, kv("k", "a", 2, 2)},
		{"cas nil on an existing key fails", 3, casCmd(t, "k", nil, "b"), true, kv("k", "a", 2, 2), false, kv("k", "a", 2, 2)},
		{"cas wrong value fails", 4, casCmd(t, "k", []byte("z"), "b"), true, kv("k", "a", 2, 2), false, kv("k", "a", 2, 2)},
		{"cas matching value swaps, keeps create index", 5, casCmd(t, "k", []byte("a"), ""), false, nil, false, kv("k", "", 2, 5)},
		{"cas nil does not match an empty value", 6, casCmd(t, "k", nil, "c"), true, kv("k", "", 2, 5), false, kv("k", "", 2, 5)},
		{"cas empty matches an empty value", 7, casCmd(t, "k", []byte{}, "c"), false, nil, false, kv("k", "c", 2, 7)},
		{"put if mod index 0 on an existing key fails", 8, putIfCmd(t, "k", "d", 0), true, kv("k", "c", 2, 7), false, kv("k", "c", 2, 7)},
		{"put if stale mod index fails", 9, putIfCmd(t, "k", "d", 5), true, kv("k", "c", 2, 7), false, kv("k", "c", 2, 7)},
		{"put if current mod index applies", 10, putIfCmd(t, "k", "d", 7), false, nil, false, kv("k", "d", 2, 10)},
		{"delete if stale mod index fails", 11, delIfCmd(t, "k", 7), true, kv("k", "d", 2, 10), false, kv("k", "d", 2, 10)},
		{"delete if current mod index deletes", 12, delIfCmd(t, "k", 10), false, nil, true, nil},
		{"delete if mod index 0 on a missing key succeeds, deletes nothing", 13, delIfCmd(t, "k", 0), false, nil, false, nil},
		{"delete if mod index on a missing key fails", 14, delIfCmd(t, "k", 10), true, nil, false, nil},
		{"put if mod index on a missing key fails", 15, putIfCmd(t, "k", "e", 10), true, nil, false, nil},
		{"put if mod index 0 creates", 16, putIfCmd(t, "k", "e", 0), false, nil, false, kv("k", "e", 16, 16)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			res := mustApply(t, s, st.index, st.data)
			if res.Err != nil || res.Index != st.index || res.Duplicate || res.Skipped {
				t.Fatalf("Apply = %+v, want a plain result at index %d", res, st.index)
			}
			if res.ConditionFailed != st.failed || res.Deleted != st.deleted {
				t.Fatalf("ConditionFailed=%v Deleted=%v, want %v and %v", res.ConditionFailed, res.Deleted, st.failed, st.deleted)
			}
			switch {
			case st.current == nil && res.Current != nil:
				t.Fatalf("Current = %+v, want nil", *res.Current)
			case st.current != nil && (res.Current == nil || !equalKV(*res.Current, *st.current)):
				t.Fatalf("Current = %+v, want %+v", res.Current, *st.current)
			}
			if ai := s.AppliedIndex(); ai != st.index {
				t.Fatalf("AppliedIndex = %d, want %d", ai, st.index)
			}
			got, err := s.Get([]byte("k"))
			if st.after == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Get = %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil || !equalKV(got, *st.after) {
				t.Fatalf("Get = %+v, %v; want %+v", got, err, *st.after)
			}
		})
	}
}

// TestStore_ConditionCommandsValidate checks the constructors refuse what
// Apply would only reject.
func TestStore_ConditionCommandsValidate(t *testing.T) {
	big := make([]byte, store.MaxValueBytes+1)
	for name, build := range map[string]func() ([]byte, error){
		"cas empty key":          func() ([]byte, error) { return store.CompareAndSwapCommand(nil, nil, []byte("v")) },
		"cas value too long":     func() ([]byte, error) { return store.CompareAndSwapCommand([]byte("k"), nil, big) },
		"cas expected too long":  func() ([]byte, error) { return store.CompareAndSwapCommand([]byte("k"), big, nil) },
		"cas with mod index":     func() ([]byte, error) { return store.CompareAndSwapCommand([]byte("k"), nil, nil, store.IfModIndex(3)) },
		"put if with empty key":  func() ([]byte, error) { return store.PutCommand(nil, nil, store.IfModIndex(0)) },
		"delete if with big key": func() ([]byte, error) { return store.DeleteCommand(make([]byte, 5000), store.IfModIndex(1)) },
	} {
		if _, err := build(); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("%s: error = %v, want ErrInvalidArgument", name, err)
		}
	}
}
