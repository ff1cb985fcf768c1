package store_test

import (
	"fmt"
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
		results, err := s.ApplyBatch(entries)
		if err != nil {
			b.Fatalf("apply batch at %d: %v", index, err)
		}
		for _, r := range results {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
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
