package raftnode

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// BenchmarkLogStore_Append appends one 300-byte entry per StoreLogs call,
// as a leader does for a single client's writes: each call is durable
// (fsynced) before it returns. raft-wal needs one fdatasync per call,
// raft-boltdb two.
//
//	go test -run '^$' -bench BenchmarkLogStore_Append -benchtime 2000x ./raftnode/
func BenchmarkLogStore_Append(b *testing.B) {
	for _, kind := range []LogStoreKind{LogStoreWAL, LogStoreBoltDB} {
		b.Run(string(kind), func(b *testing.B) {
			st, err := openLogStore(b.TempDir(), kind, hclog.NewNullLogger())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			data := make([]byte, 300)
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := range b.N {
				l := &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: data}
				if err := st.StoreLogs([]*raft.Log{l}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
