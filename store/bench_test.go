package store_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// benchStore opens a store in a temporary directory, closed at the end.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	s, err := store.Open(filepath.Join(b.TempDir(), "kv.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

// benchPuts encodes n Put commands over n keys of 8 bytes with 256-byte
// values, the shape of etcd's benchmark.
func benchPuts(b *testing.B, n int) [][]byte {
	b.Helper()
	value := make([]byte, 256)
	cmds := make([][]byte, n)
	for i := range cmds {
		var err error
		if cmds[i], err = store.PutCommand(fmt.Appendf(nil, "k%07d", i), value); err != nil {
			b.Fatal(err)
		}
	}
	return cmds
}

// BenchmarkApplyPut measures one Put per Apply (one bbolt transaction and
// fsync each) over a working set of 1000 keys with 256-byte values.
func BenchmarkApplyPut(b *testing.B) {
	s := benchStore(b)
	cmds := benchPuts(b, 1000)
	b.ReportAllocs()
	var index uint64
	for b.Loop() {
		index++
		res, err := s.Apply(index, cmds[index%uint64(len(cmds))])
		if err != nil || res.Err != nil {
			b.Fatalf("apply %d: %v, %v", index, err, res.Err)
		}
	}
}

// BenchmarkApplyBatch measures Puts applied 64 to a transaction, as raft's
// batched apply hands them over under load; ns/op is per Put.
func BenchmarkApplyBatch(b *testing.B) {
	const batch = 64
	s := benchStore(b)
	cmds := benchPuts(b, 1000)
	entries := make([]store.Entry, batch)
	b.ReportAllocs()
	var index uint64
	for i := 0; i < b.N; i += batch {
		for j := range entries {
			index++
			entries[j] = store.Entry{Index: index, Data: cmds[index%uint64(len(cmds))]}
		}
		mustApplyBatch(b, s, entries)
	}
}

// mustApplyBatch applies entries and fails b if the batch or any entry
// in it fails.
func mustApplyBatch(b *testing.B, s *store.Store, entries []store.Entry) {
	results, err := s.ApplyBatch(entries)
	if err != nil {
		b.Fatalf("apply batch at %d: %v", entries[len(entries)-1].Index, err)
	}
	for _, r := range results {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkApplyBatchAscending measures loading new keys in ascending
// order, 64 Puts to a transaction (ns/op is per Put), and reports how full
// that leaves the data bucket's leaf pages.
func BenchmarkApplyBatchAscending(b *testing.B) {
	const batch = 64
	s := benchStore(b)
	value := make([]byte, 256)
	entries := make([]store.Entry, batch)
	b.ReportAllocs()
	var index uint64
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		for j := range entries {
			index++
			cmd, err := store.PutCommand(fmt.Appendf(nil, "k%09d", index), value)
			if err != nil {
				b.Fatal(err)
			}
			entries[j] = store.Entry{Index: index, Data: cmd}
		}
		b.StartTimer()
		if _, err := s.ApplyBatch(entries); err != nil {
			b.Fatalf("apply batch at %d: %v", index, err)
		}
	}
	b.StopTimer()
	fill, err := store.DataLeafFill(s)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(fill, "leaf-fill")
}

// BenchmarkPutCommand measures encoding one Put command.
func BenchmarkPutCommand(b *testing.B) {
	key, value := []byte("k0000001"), make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.PutCommand(key, value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetAt measures the local read path (one bbolt read transaction
// returning the value and the applied index) from all cores at once, over
// 100,000 keys.
func BenchmarkGetAt(b *testing.B) {
	s := benchStore(b)
	cmds := benchPuts(b, 100_000)
	entries := make([]store.Entry, len(cmds))
	for i, c := range cmds {
		entries[i] = store.Entry{Index: uint64(i + 1), Data: c}
	}
	if _, err := s.ApplyBatch(entries); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i = (i + 7919) % len(cmds)
			if _, _, err := s.GetAt(fmt.Appendf(nil, "k%07d", i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkApplyBatchUnsynced measures Puts into a store holding 100k
// keys, with commits not fsynced as kvd runs the store (ns/op is per Put):
// 16 to a transaction, as raft hands them over under put 64/8, 64, and
// 256, about what a 50 ms deferred commit holds under put 64/8 (Options.
// CommitInterval); plain, and exactly-once from 8 clients as the Go client
// sends them. "random" writes existing keys at random, as the issue #8
// benchmarks do; "appended" writes new keys in ascending order, which is
// what an append-ordered (revision-keyed) layout would make every write.
func BenchmarkApplyBatchUnsynced(b *testing.B) {
	const (
		keys    = 100_000
		clients = 8
	)
	for _, tc := range []struct {
		order       string
		batch       int
		exactlyOnce bool
	}{
		{"random", 16, false}, {"random", 16, true}, {"random", 64, false}, {"random", 64, true},
		{"random", 256, false}, {"random", 256, true}, {"appended", 256, false}, {"appended", 256, true},
	} {
		batch, exactlyOnce := tc.batch, tc.exactlyOnce
		name := fmt.Sprintf("%s/batch=%d/plain", tc.order, batch)
		if exactlyOnce {
			name = fmt.Sprintf("%s/batch=%d/exactly-once", tc.order, batch)
		}
		next := keys // the next appended key
		key := func(rng *rand.Rand) []byte {
			if tc.order == "appended" {
				next++
				return fmt.Appendf(nil, "k%07d", next)
			}
			return fmt.Appendf(nil, "k%07d", rng.IntN(keys))
		}
		b.Run(name, func(b *testing.B) {
			// Unsynced commits, as kvd runs the store.
			s, err := store.Open(filepath.Join(b.TempDir(), "kv.db"), &store.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := s.Close(); err != nil {
					b.Error(err)
				}
			})
			value := make([]byte, 256)
			var index uint64
			load := make([]store.Entry, 0, 1000)
			for k := range keys { // every key exists, as after a warm-up
				cmd, err := store.PutCommand(fmt.Appendf(nil, "k%07d", k), value)
				if err != nil {
					b.Fatal(err)
				}
				index++
				load = append(load, store.Entry{Index: index, Data: cmd})
				if len(load) == cap(load) {
					if _, err := s.ApplyBatch(load); err != nil {
						b.Fatal(err)
					}
					load = load[:0]
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			seqs := make([]uint64, clients)
			entries := make([]store.Entry, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				b.StopTimer()
				for j := range entries {
					index++
					var opts []store.WriteOption
					if exactlyOnce {
						c := j % clients
						seqs[c]++
						opts = append(opts, store.WithRequestID(store.RequestID{
							ClientID: fmt.Appendf(nil, "client-%d", c), Seq: seqs[c],
							MinUnackedSeq: seqs[c] - min(seqs[c]-1, 32),
						}))
					}
					cmd, err := store.PutCommand(key(rng), value, opts...)
					if err != nil {
						b.Fatal(err)
					}
					entries[j] = store.Entry{Index: index, Data: cmd}
				}
				b.StartTimer()
				mustApplyBatch(b, s, entries)
			}
		})
	}
}
