package client

import (
	"context"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/cputime"
	"github.com/raftkv/raftkv/proto/kvpb"
)

// BenchmarkClient_Get measures the client's side of a Get against three
// fake members on loopback TCP, from 64 goroutines sharing one Client, as
// each of kvctl bench's connections is shared: stale reads spread over the
// members by the balancer, linearizable ones go to the leader; batched
// (the default: concurrent calls share a Batch stream per member) and
// unary (DisableBatching). Each Get
// runs under its own 5s timeout, as kvctl's --command-timeout puts it.
// The fake servers run in the same process, so ns/op, cpu-ns/op (the
// process's CPU time per Get), B/op and allocs/op include their share;
// the fakes do the same work before and after a change to the client.
//
//	go test -run '^$' -bench BenchmarkClient_Get -benchmem ./client/
func BenchmarkClient_Get(b *testing.B) {
	nodes := []*fakeNode{startFake(b, "n1"), startFake(b, "n2"), startFake(b, "n3")}
	var members []*kvpb.Member
	for i, n := range nodes {
		members = append(members, &kvpb.Member{Id: n.id, GrpcAddr: n.addr, Voter: true, Leader: i == 0})
	}
	for _, n := range nodes {
		n.setLeader(nodes[0].addr)
		n.setMembers(members...)
	}
	for _, mode := range []struct {
		name    string
		disable bool
	}{{"batched", false}, {"unary", true}} {
		b.Run(mode.name, func(b *testing.B) {
			c, err := New(Config{Endpoints: []string{nodes[0].addr, nodes[1].addr, nodes[2].addr}, DisableBatching: mode.disable})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			benchmarkGets(b, c)
		})
	}
}

// benchmarkGets runs BenchmarkClient_Get's stale and linearizable reads on c.
func benchmarkGets(b *testing.B, c *Client) {
	for _, bc := range []struct {
		name string
		c    Consistency
	}{
		{"stale", Stale},
		{"linearizable", Linearizable},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := []ReadOption{WithConsistency(bc.c)}
			get := func() error {
				ctx, cancel := context.WithTimeout(b.Context(), 5*time.Second)
				defer cancel()
				_, err := c.Get(ctx, "00000000", opts...)
				return err
			}
			if err := get(); err != nil { // connect and learn the members first
				b.Fatal(err)
			}
			cputime.RunParallel(b, func() func() error { return get })
		})
	}
}
