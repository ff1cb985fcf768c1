package store_test

import (
	"errors"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
	"github.com/raftkv/raftkv/store"
)

// FuzzApply feeds arbitrary bytes to Apply. It must never panic; it either
// fails with ErrCorruptEntry and changes nothing, or applies the entry
// (possibly with a user-level Result.Err) and advances the applied index.
// The store already holds an exactly-once result, so inputs can repeat it.
// The seed corpus runs as part of go test.
func FuzzApply(f *testing.F) {
	for _, seed := range [][]byte{
		putCmd(f, "k", "v"),
		putCmd(f, "new", ""),
		delCmd(f, "k"),
		delCmd(f, "missing"),
		metaCmd(f, "n1", "127.0.0.1:8001", "127.0.0.1:7001"),
		casCmd(f, "k", []byte("v"), "w"),
		casCmd(f, "k", nil, "w", rid("c", 1, 1)),
		oncePut(f, "k", "again", rid("c", 2, 1)),
		putIfCmd(f, "k", "v", 1),
		delIfCmd(f, "k", 0),
		mustMarshal(f, &fsmpb.Command{Format: 2, Op: &fsmpb.Command_Delete{Delete: &fsmpb.Delete{Key: []byte("k")}},
			RequestId: &fsmpb.RequestID{ClientId: []byte("c"), Seq: 1, SessionIndex: 9}}),
		nil,
		{0xff},
		[]byte("not a command"),
		mustMarshal(f, &fsmpb.Command{Format: 2, Op: &fsmpb.Command_Put{Put: &fsmpb.Put{Key: []byte("k")}}}),
		mustMarshal(f, &fsmpb.Command{Format: 1, Op: &fsmpb.Command_Put{Put: &fsmpb.Put{}}}),
		mustMarshal(f, &fsmpb.Command{Format: 1}),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A fresh store per input keeps the fuzz function free of shared
		// state, as the testing package asks.
		s, err := store.Open(filepath.Join(t.TempDir(), "kv.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}()
		mustApply(t, s, 1, oncePut(t, "k", "v", rid("c", 1, 1)))
		before := mustState(t, s)

		res, err := s.Apply(2, data)
		if err != nil {
			if !errors.Is(err, store.ErrCorruptEntry) {
				t.Fatalf("Apply error %v is neither nil nor ErrCorruptEntry", err)
			}
			assertState(t, mustState(t, s), before)
			return
		}
		if res.Index != 2 || res.Skipped || res.Op < store.OpPut || res.Op > store.OpCompareAndSwap {
			t.Fatalf("Result = %+v", res)
		}
		if got := s.AppliedIndex(); got != 2 {
			t.Fatalf("AppliedIndex = %d, want 2", got)
		}
		if res.Err != nil && !errors.Is(res.Err, store.ErrInvalidArgument) && !errors.Is(res.Err, store.ErrRequestTooOld) &&
			!errors.Is(res.Err, store.ErrSessionExpired) {
			t.Fatalf("Result.Err = %v, want ErrInvalidArgument, ErrRequestTooOld or ErrSessionExpired", res.Err)
		}
		if res.Err != nil || res.Duplicate || res.ConditionFailed {
			// Nothing was written.
			want := before
			want.applied = 2
			assertState(t, mustState(t, s), want)
		}
		mustDump(t, s) // the exactly-once table stays consistent
		// Reads still work, and replaying the entry is a no-op.
		after := mustState(t, s)
		if res, err := s.Apply(2, data); err != nil || !res.Skipped {
			t.Fatalf("replay = %+v, %v; want Skipped", res, err)
		}
		assertState(t, mustState(t, s), after)
	})
}

// mustMarshal encodes a hand-built command for seeds that the constructors
// refuse to build.
func mustMarshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
