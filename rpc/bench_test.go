package rpc

import (
	"testing"

	"github.com/raftkv/raftkv/internal/cputime"
	"github.com/raftkv/raftkv/proto/kvpb"
)

// BenchmarkServer_Get measures one Get through the whole server read path
// (gRPC transport over bufconn, the server's interceptors, the handler,
// one bbolt read) from all cores at once, at each consistency. The fake
// node confirms leadership at once, so the numbers are the per-request
// overhead of rpc and gRPC, not raft's. Client and server share the
// process: ns/op, B/op and allocs/op include the generated client's share.
// 32 callers per core keep many calls in flight on each connection, as
// kvctl bench's 64 clients over 8 connections do. cpu-ns/op is the
// process's CPU time (user and system) per Get: unlike ns/op it does not
// grow when other work on the machine takes the cores.
//
//	go test -run '^$' -bench BenchmarkServer_Get -benchmem ./rpc/
func BenchmarkServer_Get(b *testing.B) {
	_, cc := startFake(b, Config{}, nil)
	kv := kvpb.NewKVClient(cc)
	ctx := b.Context()
	if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("00000000"), Value: make([]byte, 256)}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		c    kvpb.Consistency
	}{
		{"stale", kvpb.Consistency_STALE},
		{"linearizable", kvpb.Consistency_LINEARIZABLE},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := &kvpb.GetRequest{Key: []byte("00000000"), Read: &kvpb.ReadOptions{Consistency: bc.c}}
			cputime.RunParallel(b, func() func() error {
				return func() error {
					_, err := kv.Get(ctx, req)
					return err
				}
			})
		})
	}
}
