package raftnode_test

import (
	"errors"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

// TestNode_NonvoterLifecycle adds a non-voter, checks that it replicates
// without voting, that re-adding it is a no-op, that it is promoted on
// request and never demoted by a non-voter join afterwards.
func TestNode_NonvoterLifecycle(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	leader := c.Node(c.WaitLeader(waitTimeout))
	mustApply(t, leader, "before", "join")
	r := c.AddNode()
	replica := c.Node(r)
	ctx := ctxTimeout(t, waitTimeout)

	if err := leader.AddNonvoter(ctx, replica.ID(), replica.RaftAddr()); err != nil {
		t.Fatalf("AddNonvoter: %v", err)
	}
	waitKeys(t, c.Members[r].SM, 1)
	if st := replica.Status(); st.Voter {
		t.Fatalf("replica status %+v, want non-voter", st)
	}
	before := leader.Status().LastLogIndex
	if err := leader.AddNonvoter(ctx, replica.ID(), replica.RaftAddr()); err != nil {
		t.Fatalf("repeated AddNonvoter: %v", err)
	}
	if after := leader.Status().LastLogIndex; after != before {
		t.Fatalf("repeated AddNonvoter appended entries: %d -> %d", before, after)
	}

	if err := leader.PromoteToVoter(ctx, replica.ID()); err != nil {
		t.Fatalf("PromoteToVoter: %v", err)
	}
	if err := leader.PromoteToVoter(ctx, replica.ID()); err != nil {
		t.Fatalf("repeated PromoteToVoter: %v", err)
	}
	raftnodetest.WaitFor(t, waitTimeout, "replica to see itself as a voter", func() bool { return replica.Status().Voter })

	before = leader.Status().LastLogIndex
	err := leader.AddNonvoter(ctx, replica.ID(), replica.RaftAddr())
	if !errors.Is(err, raftnode.ErrMembershipRefused) {
		t.Fatalf("AddNonvoter of a voter: err = %v, want ErrMembershipRefused", err)
	}
	if after := leader.Status().LastLogIndex; after != before {
		t.Fatalf("refused demotion appended entries: %d -> %d", before, after)
	}
}

// TestNode_MembershipBadInput: requests naming unknown ids, empty ids, the
// last voter or a non-voter as leader fail with the documented errors and
// change nothing.
func TestNode_MembershipBadInput(t *testing.T) {
	c := raftnodetest.StartCluster(t, 1, func(cfg *raftnode.Config) {
		cfg.RaftBindAddr = "127.0.0.1:0"
		cfg.InitialCluster = nil
	})
	leader := c.Node(c.WaitLeader(waitTimeout))
	r := c.AddNode()
	ctx := ctxTimeout(t, waitTimeout)
	if err := leader.AddNonvoter(ctx, c.Node(r).ID(), c.Node(r).RaftAddr()); err != nil {
		t.Fatalf("AddNonvoter: %v", err)
	}
	before := leader.Status().LastLogIndex
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"remove unknown", func() error { return leader.RemoveServer(ctx, "n9") }, raftnode.ErrUnknownMember},
		{"promote unknown", func() error { return leader.PromoteToVoter(ctx, "n9") }, raftnode.ErrUnknownMember},
		{"transfer unknown", func() error { return leader.TransferLeadershipTo(ctx, "n9") }, raftnode.ErrUnknownMember},
		{"remove empty", func() error { return leader.RemoveServer(ctx, "") }, raftnode.ErrInvalidArgument},
		{"add empty", func() error { return leader.AddNonvoter(ctx, "", "127.0.0.1:1") }, raftnode.ErrInvalidArgument},
		{"remove last voter", func() error { return leader.RemoveServer(ctx, leader.ID()) }, raftnode.ErrMembershipRefused},
		{"transfer to non-voter", func() error { return leader.TransferLeadershipTo(ctx, c.Node(r).ID()) }, raftnode.ErrMembershipRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if after := leader.Status().LastLogIndex; after != before {
		t.Fatalf("refused requests appended entries: %d -> %d", before, after)
	}
	if err := leader.TransferLeadershipTo(ctx, leader.ID()); err != nil {
		t.Fatalf("transfer to self: %v", err)
	}
}

// TestNode_TransferLeadershipTo hands leadership to a chosen follower.
func TestNode_TransferLeadershipTo(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	target := c.Node(c.Followers(li)[1])
	if err := c.Node(li).TransferLeadershipTo(ctxTimeout(t, waitTimeout), target.ID()); err != nil {
		t.Fatalf("TransferLeadershipTo: %v", err)
	}
	if got := c.Node(c.WaitLeader(waitTimeout)).ID(); got != target.ID() {
		t.Fatalf("leader = %s, want %s", got, target.ID())
	}
}

// TestNode_FailingPeers: the leader reports a killed follower as failing
// from the observed heartbeat failures, and forgets it once it is back.
func TestNode_FailingPeers(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	leader := c.Node(li)
	fi := c.Followers(li)[0]
	id := c.Node(fi).ID()
	killed := time.Now()
	c.Kill(fi)
	raftnodetest.WaitFor(t, waitTimeout, "follower reported failing", func() bool {
		last, ok := leader.FailingPeers()[id]
		return ok && !last.After(killed.Add(time.Second))
	})
	c.Restart(fi)
	raftnodetest.WaitFor(t, waitTimeout, "follower no longer failing", func() bool {
		_, ok := leader.FailingPeers()[id]
		return !ok
	})
}
