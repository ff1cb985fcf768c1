package server_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
)

func startNode(t *testing.T, id, dir string, bootstrap bool, join []string) *server.Server {
	t.Helper()
	addrs := servertest.FreeAddrs(t, 2)
	cfg := server.DefaultConfig()
	cfg.NodeID = id
	cfg.DataDir = filepath.Join(dir, id)
	cfg.GRPCAddr = addrs[0]
	cfg.Raft = servertest.FastRaft()
	cfg.Raft.RaftBindAddr = addrs[1]
	cfg.Raft.Bootstrap = bootstrap
	cfg.JoinAddrs = join
	s, err := server.Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestJoin_NodeJoinsThroughAnyMember: a single bootstrapped node, then two
// nodes that join through it; every node ends up a voter with its client
// address replicated, and joining again changes nothing.
func TestJoin_NodeJoinsThroughAnyMember(t *testing.T) {
	dir := t.TempDir()
	n1 := startNode(t, "n1", dir, true, nil)
	servertest.WaitFor(t, leaderWait, "n1 to lead", func() bool { return n1.Node().IsLeader() })
	n2 := startNode(t, "n2", dir, false, []string{n1.GRPCAddr()})
	// n3 joins through n2, a follower: the request is forwarded to n1.
	servertest.WaitFor(t, leaderWait, "n2 to join", func() bool { return n2.Node().Status().LeaderID == "n1" })
	n3 := startNode(t, "n3", dir, false, []string{n2.GRPCAddr()})

	cl := newClient(t, n3.GRPCAddr())
	ctx := ctxTimeout(t, 15*time.Second)
	servertest.WaitFor(t, 10*time.Second, "three voters with addresses", func() bool {
		ms, err := cl.Members(ctx)
		if err != nil || len(ms) != 3 {
			return false
		}
		for _, m := range ms {
			if !m.Voter || m.GRPCAddr == "" {
				return false
			}
		}
		return true
	})
	if _, err := cl.Put(ctx, "joined", []byte("yes")); err != nil {
		t.Fatalf("put: %v", err)
	}
	before := n1.Node().Status().LastLogIndex
	// A repeated join with identical addresses is a no-op: no new log entry
	// for the metadata (the raft configuration is unchanged too).
	if err := n1.Node().AddVoter(ctx, "n2", n2.Node().RaftAddr()); err != nil {
		t.Fatalf("repeat AddVoter: %v", err)
	}
	if after := n1.Node().Status().LastLogIndex; after != before {
		t.Fatalf("repeated join appended entries: %d -> %d", before, after)
	}
}
