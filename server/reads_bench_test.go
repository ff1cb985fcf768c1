package server_test

import (
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/internal/cputime"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/server/servertest"
)

// BenchmarkServer_Get measures Gets on a 3-node in-process cluster, the
// whole stack kvd runs (gRPC server options, metrics, the rpc package,
// raft, bbolt), from 64 goroutines over 8 connections, as kvctl bench
// get --clients 64 --conns 8 sends them: stale reads to a follower,
// linearizable reads to the leader. cpu-ns/op is the process's CPU time
// per Get (all three nodes, raft's background work and the callers);
// unlike ns/op it does not grow when other work takes the cores.
//
//	go test -run '^$' -bench BenchmarkServer_Get -benchmem ./server/
func BenchmarkServer_Get(b *testing.B) {
	c := servertest.StartCluster(b, 3, nil)
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	put, err := kvpb.NewKVClient(dial(b, c.Endpoints()[leader])).Put(b.Context(), &kvpb.PutRequest{Key: []byte("00000000"), Value: make([]byte, 256)})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		node int
		ro   *kvpb.ReadOptions
	}{
		// min_index: the follower has applied the write before the first read.
		{"stale", follower, &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE, MinIndex: put.GetIndex()}},
		{"linearizable", leader, &kvpb.ReadOptions{Consistency: kvpb.Consistency_LINEARIZABLE}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var conns []*grpc.ClientConn
			for range 8 {
				conns = append(conns, dial(b, c.Endpoints()[bc.node]))
			}
			req := &kvpb.GetRequest{Key: []byte("00000000"), Read: bc.ro}
			var next atomic.Int64 // spreads the callers over the connections
			cputime.RunParallel(b, func() func() error {
				kv := kvpb.NewKVClient(conns[int(next.Add(1))%len(conns)])
				return func() error {
					_, err := kv.Get(b.Context(), req)
					return err
				}
			})
		})
	}
}
