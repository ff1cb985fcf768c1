package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/store"
)

// openDeferred opens a store at path whose commits wait for interval or
// entries (Options.CommitInterval), closed when the test ends.
func openDeferred(tb testing.TB, path string, interval time.Duration, entries int) *store.Store {
	tb.Helper()
	return mustOpenWith(tb, path, &store.Options{Logger: testLogger(tb), CommitInterval: interval, CommitEntries: entries})
}

// randomBatches builds n batches of random commands over a small key space
// with shared prefixes: puts, deletes, compare-and-swaps, exactly-once
// puts from three clients (some repeated) and node metadata.
func randomBatches(tb testing.TB, rng *rand.Rand, n int) [][]store.Entry {
	tb.Helper()
	var (
		index uint64
		seqs  [3]uint64
		out   [][]store.Entry
	)
	key := func() []byte { return fmt.Appendf(nil, "%c/%d", 'a'+rune(rng.IntN(3)), rng.IntN(12)) }
	for range n {
		batch := make([]store.Entry, 1+rng.IntN(8))
		for i := range batch {
			var cmd []byte
			var err error
			switch r := rng.IntN(20); {
			case r < 9:
				cmd, err = store.PutCommand(key(), fmt.Appendf(nil, "v%d", index+1))
			case r < 13:
				cmd, err = store.DeleteCommand(key())
			case r < 15:
				cmd, err = store.CompareAndSwapCommand(key(), fmt.Appendf(nil, "v%d", rng.Uint64N(index+1)), []byte("cas"))
			case r < 19:
				c := rng.IntN(len(seqs))
				if rng.IntN(4) > 0 || seqs[c] == 0 {
					seqs[c]++ // else repeat the last request
				}
				cmd, err = store.PutCommand(key(), fmt.Appendf(nil, "once%d", index+1), store.WithRequestID(store.RequestID{
					ClientID: fmt.Appendf(nil, "client-%d", c), Seq: seqs[c], MinUnackedSeq: max(seqs[c], 2) - 1,
				}))
			default:
				cmd, err = store.SetNodeMetaCommand(fmt.Sprintf("n%d", rng.IntN(3)), fmt.Sprintf("g:%d", index), "r:1")
			}
			if err != nil {
				tb.Fatal(err)
			}
			index++
			batch[i] = store.Entry{Index: index, Data: cmd}
		}
		out = append(out, batch)
	}
	return out
}

// applyBatchOK applies batch and fails the test on a fatal error (entries
// may still fail on their own, in their results).
func applyBatchOK(tb testing.TB, s *store.Store, batch []store.Entry) []store.Result {
	tb.Helper()
	res, err := s.ApplyBatch(batch)
	if err != nil {
		tb.Fatalf("apply batch from %d: %v", batch[0].Index, err)
	}
	return res
}

// assertSameReads compares every kind of read of got against want: the
// whole state, Get of every key, and List under each prefix in pages.
func assertSameReads(tb testing.TB, got, want *store.Store) {
	tb.Helper()
	assertState(tb, mustState(tb, got), mustState(tb, want))
	for _, prefix := range []string{"", "a", "b/", "b/1", "c/3", "zz"} {
		for _, limit := range []int{1, 2, 5} {
			g, gmore, gidx, err := got.ListAt([]byte(prefix), limit)
			if err != nil {
				tb.Fatal(err)
			}
			w, wmore, widx, err := want.ListAt([]byte(prefix), limit)
			if err != nil {
				tb.Fatal(err)
			}
			if gidx != widx || gmore != wmore || !reflect.DeepEqual(keysOf(g), keysOf(w)) {
				tb.Fatalf("ListAt(%q, %d) = %q more=%v index %d, want %q more=%v index %d",
					prefix, limit, keysOf(g), gmore, gidx, keysOf(w), wmore, widx)
			}
		}
	}
	for c := 'a'; c <= 'c'; c++ {
		for i := range 12 {
			k := fmt.Appendf(nil, "%c/%d", c, i)
			g, gidx, gerr := got.GetAt(k)
			w, widx, werr := want.GetAt(k)
			if gidx != widx || (gerr == nil) != (werr == nil) || !equalKV(g, w) {
				tb.Fatalf("GetAt(%s) = %+v, %d, %v; want %+v, %d, %v", k, g, gidx, gerr, w, widx, werr)
			}
		}
	}
}

// assertSameSessions commits what got holds uncommitted, then compares
// its exactly-once table, as bbolt holds it, with want's.
func assertSameSessions(tb testing.TB, got, want *store.Store) {
	tb.Helper()
	if err := got.Flush(); err != nil {
		tb.Fatal(err)
	}
	gs, err := store.DumpSessions(got)
	if err != nil {
		tb.Fatal(err)
	}
	ws, err := store.DumpSessions(want)
	if err != nil {
		tb.Fatal(err)
	}
	if !reflect.DeepEqual(gs, ws) {
		tb.Fatalf("exactly-once tables differ:\n got %+v\nwant %+v", gs, ws)
	}
}

func keysOf(kvs []store.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = string(kv.Key)
	}
	return out
}

// TestStore_DeferredCommitsReadLikeImmediateOnes applies the same random
// batches to a store that commits every batch and to one that leaves them
// in an open transaction (committing only when told, or on Snapshot), and
// checks after every batch that every read and every result agree, and
// that the deferred store's file really trails what it shows.
func TestStore_DeferredCommitsReadLikeImmediateOnes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	batches := randomBatches(t, rng, 300)
	ref := mustOpen(t)
	def := openDeferred(t, filepath.Join(t.TempDir(), "kv.db"), time.Hour, 1<<30)
	trailed := false
	for _, batch := range batches {
		want := applyBatchOK(t, ref, batch)
		got := applyBatchOK(t, def, batch)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("batch from %d: results %+v, want %+v", batch[0].Index, got, want)
		}
		assertSameReads(t, def, ref)
		committed, err := store.CommittedIndex(def)
		if err != nil {
			t.Fatal(err)
		}
		trailed = trailed || committed < def.AppliedIndex()
		switch rng.IntN(10) {
		case 0:
			if err := def.Flush(); err != nil {
				t.Fatal(err)
			}
			if committed, _ := store.CommittedIndex(def); committed != def.AppliedIndex() {
				t.Fatalf("after Flush the file holds index %d, want %d", committed, def.AppliedIndex())
			}
		case 1:
			data, index := snapshotBytes(t, def)
			if index != def.AppliedIndex() {
				t.Fatalf("snapshot index %d, want %d", index, def.AppliedIndex())
			}
			fresh := mustOpen(t)
			if err := fresh.Restore(bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			assertSameReads(t, fresh, ref)
		}
	}
	if !trailed {
		t.Fatal("the deferred store's file never trailed its applied index; nothing was deferred")
	}
	assertSameSessions(t, def, ref)
}

// TestStore_DeferredCommitsAfterACrashAreReplayed crashes a store holding
// uncommitted entries and replays the whole log into it, as raft does on
// restart: it must end exactly where a store that committed every batch
// did, exactly-once table included.
func TestStore_DeferredCommitsAfterACrashAreReplayed(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	batches := randomBatches(t, rng, 120)
	ref := mustOpen(t)
	path := filepath.Join(t.TempDir(), "kv.db")
	def, err := store.Open(path, &store.Options{Logger: testLogger(t), CommitInterval: time.Hour, CommitEntries: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range batches {
		applyBatchOK(t, ref, batch)
		applyBatchOK(t, def, batch)
	}
	// Whatever the random batches left open (node metadata commits at
	// once), end with a few entries that stay uncommitted.
	next := ref.AppliedIndex() + 1
	tail := []store.Entry{
		{Index: next, Data: putCmd(t, "a/1", "tail")},
		{Index: next + 1, Data: delCmd(t, "b/2")},
		{Index: next + 2, Data: putCmd(t, "c/11", "tail")},
	}
	batches = append(batches, tail)
	applyBatchOK(t, ref, tail)
	applyBatchOK(t, def, tail)
	committed, err := store.CommittedIndex(def)
	if err != nil {
		t.Fatal(err)
	}
	last := def.AppliedIndex()
	if committed == 0 || committed >= last {
		t.Fatalf("committed index %d of %d applied; want some committed (CommitEntries) and some not", committed, last)
	}
	if err := store.Crash(def); err != nil {
		t.Fatal(err)
	}
	def = openDeferred(t, path, time.Hour, 50)
	if got := def.AppliedIndex(); got != committed {
		t.Fatalf("applied index after the crash = %d, want the committed %d", got, committed)
	}
	for _, batch := range batches {
		res := applyBatchOK(t, def, batch)
		for i, r := range res {
			if r.Skipped != (batch[i].Index <= committed) {
				t.Fatalf("entry %d: skipped=%v after a crash at %d", batch[i].Index, r.Skipped, committed)
			}
		}
	}
	assertSameReads(t, def, ref)
	assertSameSessions(t, def, ref)
}

// TestStore_DeferredCommitTriggers checks when an accumulating transaction
// is committed: at CommitEntries, at the size bound of the records written,
// by the timer once CommitInterval has
// passed with no further apply, at once for node metadata (read from bbolt
// alone), and by Close.
func TestStore_DeferredCommitTriggers(t *testing.T) {
	committed := func(s *store.Store) uint64 {
		t.Helper()
		c, err := store.CommittedIndex(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("entries", func(t *testing.T) {
		s := openDeferred(t, filepath.Join(t.TempDir(), "kv.db"), time.Hour, 3)
		mustApply(t, s, 1, putCmd(t, "a", "1"))
		mustApply(t, s, 2, putCmd(t, "b", "1"))
		if got := committed(s); got != 0 {
			t.Fatalf("committed %d after 2 of 3 entries, want 0", got)
		}
		if got, want := s.CommitStats(), (store.CommitStats{Commits: 0, UncommittedEntries: 2}); got != want {
			t.Fatalf("CommitStats = %+v, want %+v", got, want)
		}
		mustApply(t, s, 3, putCmd(t, "c", "1"))
		if got := committed(s); got != 3 {
			t.Fatalf("committed %d after 3 of 3 entries, want 3", got)
		}
		st := s.CommitStats()
		if st.Commits != 1 || st.UncommittedEntries != 0 || st.CommitTime <= 0 {
			t.Fatalf("CommitStats = %+v, want 1 commit that took some time and nothing uncommitted", st)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		s := openDeferred(t, filepath.Join(t.TempDir(), "kv.db"), time.Hour, 1<<30)
		store.SetCommitBytes(s, 1000)
		value := strings.Repeat("v", 600)
		mustApply(t, s, 1, putCmd(t, "a", value))
		if got := committed(s); got != 0 {
			t.Fatalf("committed %d after 600 bytes of 1000, want 0", got)
		}
		mustApply(t, s, 2, putCmd(t, "b", value))
		if got := committed(s); got != 2 {
			t.Fatalf("committed %d after 1200 bytes of 1000, want 2", got)
		}
	})
	t.Run("interval", func(t *testing.T) {
		s := openDeferred(t, filepath.Join(t.TempDir(), "kv.db"), 20*time.Millisecond, 1<<30)
		mustApply(t, s, 1, putCmd(t, "a", "1"))
		deadline := time.After(10 * time.Second)
		poll := time.NewTicker(5 * time.Millisecond)
		defer poll.Stop()
		for committed(s) != 1 {
			select {
			case <-deadline:
				t.Fatal("the timer never committed the entry")
			case <-poll.C:
			}
		}
	})
	t.Run("node meta", func(t *testing.T) {
		s := openDeferred(t, filepath.Join(t.TempDir(), "kv.db"), time.Hour, 1<<30)
		mustApply(t, s, 1, putCmd(t, "a", "1"))
		mustApply(t, s, 2, metaCmd(t, "n1", "g:1", "r:1"))
		if got := committed(s); got != 2 {
			t.Fatalf("committed %d after node metadata, want 2", got)
		}
		if m, ok := s.NodeMeta("n1"); !ok || m.GRPCAddr != "g:1" {
			t.Fatalf("NodeMeta(n1) = %+v, %v", m, ok)
		}
	})
	t.Run("close", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "kv.db")
		s := openDeferred(t, path, time.Hour, 1<<30)
		mustApply(t, s, 1, putCmd(t, "a", "1"))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = mustOpenAt(t, path)
		if got := s.AppliedIndex(); got != 1 {
			t.Fatalf("applied index after Close and Open = %d, want 1", got)
		}
	})
}

// TestStore_DeferredRestoreDropsUncommitted restores a snapshot over a
// store holding uncommitted entries: none of them may show through.
func TestStore_DeferredRestoreDropsUncommitted(t *testing.T) {
	src := mustOpen(t)
	fillA(t, src)
	data, _ := snapshotBytes(t, src)

	s := openDeferred(t, filepath.Join(t.TempDir(), "kv.db"), time.Hour, 1<<30)
	for i := uint64(1); i <= 20; i++ {
		mustApply(t, s, i, putCmd(t, fmt.Sprintf("a%d", i), "x"))
	}
	if err := s.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	assertState(t, mustState(t, s), mustState(t, src))
	// And the store goes on applying from the snapshot's index.
	mustApply(t, s, 8, putCmd(t, "z", "1"))
	mustApply(t, src, 8, putCmd(t, "z", "1"))
	assertState(t, mustState(t, s), mustState(t, src))
}

// TestStore_DeferredReadsAreSnapshots runs reads against applies, timer
// commits and entry-count commits, under the race detector. Every batch
// writes the same value to two keys under different prefixes, so any read
// that mixed two states (bbolt before a commit, overlay after its clear,
// or the reverse) would show them apart, and every read must show exactly
// the state at the index it reports.
func TestStore_DeferredReadsAreSnapshots(t *testing.T) {
	s := openDeferred(t, filepath.Join(t.TempDir(), "kv.db"), time.Millisecond, 7)
	const batches = 2000
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				kvs, _, index, err := s.ListAt(nil, 0)
				if err != nil {
					errs <- err
					return
				}
				if len(kvs) == 0 {
					continue
				}
				if len(kvs) != 2 || !bytes.Equal(kvs[0].Value, kvs[1].Value) {
					errs <- fmt.Errorf("read at index %d mixed states: %+v", index, kvs)
					return
				}
				// Batch i writes a at 2i-1 and b at 2i, so the state at an
				// index has exactly these.
				if kvs[0].ModIndex != index-1 || kvs[1].ModIndex != index {
					errs <- fmt.Errorf("read at index %d holds other data: %+v", index, kvs)
					return
				}
				kv, gindex, err := s.GetAt([]byte("b"))
				if err != nil {
					errs <- err
					return
				}
				if kv.ModIndex != gindex {
					errs <- fmt.Errorf("get at index %d holds b of index %d", gindex, kv.ModIndex)
					return
				}
			}
		})
	}
	var index uint64
	for i := range batches {
		v := fmt.Sprint(i)
		index += 2
		applyBatchOK(t, s, []store.Entry{
			{Index: index - 1, Data: putCmd(t, "a", v)},
			{Index: index, Data: putCmd(t, "b", v)},
		})
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestStore_DeferredApplyFailure makes a batch fail inside the write
// transaction (a session record that does not decode). Alone in its
// transaction, it changes nothing and the store goes on. After an earlier
// uncommitted batch, that batch is rolled back with it: reads keep showing
// it (it was acknowledged; raft replays it after a restart), and the store
// refuses every later batch with the error, which Close reports too.
func TestStore_DeferredApplyFailure(t *testing.T) {
	once := func(client string, seq uint64, key string) []byte {
		t.Helper()
		b, err := store.PutCommand([]byte(key), []byte("v"), store.WithRequestID(store.RequestID{ClientID: []byte(client), Seq: seq, MinUnackedSeq: seq}))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, &store.Options{Logger: testLogger(t), CommitInterval: time.Hour, CommitEntries: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, 1, once("bad", 1, "a"))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := store.CorruptSession(s, []byte("bad")); err != nil {
		t.Fatal(err)
	}

	// Alone in a fresh transaction: an error, nothing changed, not sticky.
	if _, err := s.Apply(2, once("bad", 2, "b")); err == nil {
		t.Fatal("apply with a corrupt session succeeded")
	}
	if _, err := s.Get([]byte("b")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get b after the failed apply: %v, want ErrNotFound", err)
	}
	mustApply(t, s, 2, putCmd(t, "c", "1"))

	// After an uncommitted batch: that batch is lost from the file too.
	if _, err := s.Apply(3, once("bad", 2, "d")); err == nil {
		t.Fatal("apply with a corrupt session succeeded")
	}
	if kv, err := s.Get([]byte("c")); err != nil || string(kv.Value) != "1" {
		t.Fatalf("get c = %+v, %v; the acknowledged entry must stay readable", kv, err)
	}
	if got := s.AppliedIndex(); got != 2 {
		t.Fatalf("applied index %d, want 2", got)
	}
	_, err = s.Apply(3, putCmd(t, "e", "1"))
	if err == nil || !strings.Contains(err.Error(), "rolled back entries up to 2") {
		t.Fatalf("apply after a rolled-back batch: %v, want the sticky failure", err)
	}
	if err := s.Close(); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("Close = %v, want the sticky failure", err)
	}
	// Reopened, the file holds what was committed: index 1. Raft replays
	// from there.
	s = mustOpenAt(t, path)
	if got := s.AppliedIndex(); got != 1 {
		t.Fatalf("applied index after reopening %d, want 1", got)
	}
}
