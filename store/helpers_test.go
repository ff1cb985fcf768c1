package store_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// testLogger sends store logs to the test's output, shown only on failure
// or with -v.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// mustOpen opens a fresh store in a temp dir and closes it when the test
// ends (bbolt's MustCreateDB style).
func mustOpen(tb testing.TB) *store.Store {
	tb.Helper()
	return mustOpenAt(tb, filepath.Join(tb.TempDir(), "kv.db"))
}

// mustOpenAt opens the store at path and closes it when the test ends.
// Closing twice is harmless, so a test may also Close it itself.
func mustOpenAt(tb testing.TB, path string) *store.Store {
	tb.Helper()
	return mustOpenWith(tb, path, &store.Options{Logger: testLogger(tb)})
}

// mustOpenWith opens the store at path with opts and closes it when the
// test ends.
func mustOpenWith(tb testing.TB, path string, opts *store.Options) *store.Store {
	tb.Helper()
	s, err := store.Open(path, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return s
}

// mustApply applies data at index and fails the test on a fatal error.
func mustApply(tb testing.TB, s *store.Store, index uint64, data []byte) store.Result {
	tb.Helper()
	res, err := s.Apply(index, data)
	if err != nil {
		tb.Fatalf("apply %d: %v", index, err)
	}
	return res
}

// putCmd encodes a Put or fails the test.
func putCmd(tb testing.TB, key, value string) []byte {
	tb.Helper()
	b, err := store.PutCommand([]byte(key), []byte(value))
	if err != nil {
		tb.Fatalf("PutCommand(%q): %v", key, err)
	}
	return b
}

// delCmd encodes a Delete or fails the test.
func delCmd(tb testing.TB, key string) []byte {
	tb.Helper()
	b, err := store.DeleteCommand([]byte(key))
	if err != nil {
		tb.Fatalf("DeleteCommand(%q): %v", key, err)
	}
	return b
}

// metaCmd encodes a SetNodeMeta or fails the test.
func metaCmd(tb testing.TB, id, grpcAddr, raftAddr string) []byte {
	tb.Helper()
	b, err := store.SetNodeMetaCommand(id, grpcAddr, raftAddr)
	if err != nil {
		tb.Fatalf("SetNodeMetaCommand(%q): %v", id, err)
	}
	return b
}

// state is everything observable about a store, for before/after
// comparisons.
type state struct {
	applied uint64
	kvs     []store.KeyValue
	nodes   map[string]store.NodeMeta
}

// mustState captures the observable state of s.
func mustState(tb testing.TB, s *store.Store) state {
	tb.Helper()
	kvs, more, err := s.List(nil, 0)
	if err != nil {
		tb.Fatalf("list: %v", err)
	}
	if more {
		tb.Fatalf("list: more=true; test stores hold fewer than %d keys", store.MaxListLimit)
	}
	nodes, err := s.AllNodeMeta()
	if err != nil {
		tb.Fatalf("all node meta: %v", err)
	}
	return state{applied: s.AppliedIndex(), kvs: kvs, nodes: nodes}
}

// equalState reports whether two captured states are the same.
func equalState(a, b state) bool {
	if a.applied != b.applied || len(a.nodes) != len(b.nodes) {
		return false
	}
	for id, m := range a.nodes {
		if bm, ok := b.nodes[id]; !ok || bm != m {
			return false
		}
	}
	return slices.EqualFunc(a.kvs, b.kvs, equalKV)
}

// equalKV compares two KeyValues, treating nil and empty slices alike.
func equalKV(a, b store.KeyValue) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) &&
		a.CreateIndex == b.CreateIndex && a.ModIndex == b.ModIndex
}

// assertState fails the test when got differs from want.
func assertState(tb testing.TB, got, want state) {
	tb.Helper()
	if !equalState(got, want) {
		tb.Fatalf("state differs:\n got %+v\nwant %+v", got, want)
	}
}
