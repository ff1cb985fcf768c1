package store_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// BenchmarkApplyPut measures one Put per Apply (one bbolt transaction and
// fsync each) over a working set of 1000 keys with 128-byte values.
func BenchmarkApplyPut(b *testing.B) {
	s, err := store.Open(filepath.Join(b.TempDir(), "kv.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	value := make([]byte, 128)
	cmds := make([][]byte, 1000)
	for i := range cmds {
		cmds[i], err = store.PutCommand(fmt.Appendf(nil, "key-%06d", i), value)
		if err != nil {
			b.Fatal(err)
		}
	}
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
