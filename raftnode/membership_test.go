package raftnode_test

import (
	"errors"
	"testing"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

func TestNode_AddVoterIdempotent(t *testing.T) {
	c := raftnodetest.StartCluster(t, 1, func(cfg *raftnode.Config) {
		cfg.RaftBindAddr = "127.0.0.1:0" // single-node bootstrap needs no known address
		cfg.InitialCluster = nil
	})
	leader := c.Node(c.WaitLeader(waitTimeout))
	mustApply(t, leader, "before", "join")

	j := c.AddNode()
	joiner := c.Node(j)
	ctx := ctxTimeout(t, waitTimeout)
	if err := leader.AddVoter(ctx, joiner.ID(), joiner.RaftAddr()); err != nil {
		t.Fatalf("AddVoter: %v", err)
	}
	members, err := leader.Members(ctx)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	want := map[raftnode.NodeID]string{leader.ID(): leader.RaftAddr(), joiner.ID(): joiner.RaftAddr()}
	if len(members) != 2 {
		t.Fatalf("Members = %+v, want 2", members)
	}
	for _, m := range members {
		if want[m.ID] != m.RaftAddr || !m.Voter {
			t.Errorf("member %+v, want voter at %s", m, want[m.ID])
		}
	}

	// Same id and address again: a no-op that appends nothing.
	before := leader.Status().LastLogIndex
	if err := leader.AddVoter(ctx, joiner.ID(), joiner.RaftAddr()); err != nil {
		t.Fatalf("repeated AddVoter: %v", err)
	}
	if after := leader.Status().LastLogIndex; after != before {
		t.Errorf("repeated AddVoter appended entries: last index %d -> %d", before, after)
	}

	// The joiner receives the earlier write and new ones. (The change
	// committed under the old one-voter configuration, so AddVoter may
	// return before the joiner has heard from the leader.)
	mustApply(t, leader, "after", "join")
	waitKeys(t, c.Members[j].SM, 2)

	// On the follower: a hint to the leader.
	var nle *raftnode.NotLeaderError
	if err := joiner.AddVoter(ctx, "n9", "127.0.0.1:1"); !errors.As(err, &nle) || nle.LeaderID != leader.ID() {
		t.Errorf("AddVoter on follower: err = %v, want *NotLeaderError for %s", err, leader.ID())
	}
	if st := joiner.Status(); !st.Voter || st.Role != "follower" {
		t.Errorf("joiner status %+v, want voting follower", st)
	}

	if err := leader.RemoveServer(ctx, joiner.ID()); err != nil {
		t.Fatalf("RemoveServer: %v", err)
	}
	if err := leader.RemoveServer(ctx, joiner.ID()); !errors.Is(err, raftnode.ErrUnknownMember) {
		t.Fatalf("repeated RemoveServer: err = %v, want ErrUnknownMember", err)
	}
	if members, _ := leader.Members(ctx); len(members) != 1 {
		t.Fatalf("Members after remove = %+v, want 1", members)
	}
	mustApply(t, leader, "alone", "again") // quorum is the leader alone again
}

// TestNode_AddVoterUpdatesAddress restarts a follower on a new port and
// re-adds it under the same ID: its address is updated in place.
func TestNode_AddVoterUpdatesAddress(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	leader := c.Node(li)
	fi := c.Followers(li)[0]
	id, oldAddr := c.Node(fi).ID(), c.Node(fi).RaftAddr()

	c.Kill(fi)
	c.Members[fi].Config.RaftBindAddr = "127.0.0.1:0"
	c.Restart(fi)
	newAddr := c.Node(fi).RaftAddr()
	if newAddr == oldAddr {
		t.Fatalf("restarted on the same address %s", newAddr)
	}
	if err := leader.AddVoter(ctxTimeout(t, waitTimeout), id, newAddr); err != nil {
		t.Fatalf("AddVoter with new address: %v", err)
	}
	members, err := leader.Members(ctxTimeout(t, waitTimeout))
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if len(members) != 3 {
		t.Fatalf("Members = %+v, want 3", members)
	}
	for _, m := range members {
		if m.ID == id && (m.RaftAddr != newAddr || !m.Voter) {
			t.Fatalf("member %+v, want voter at %s", m, newAddr)
		}
	}
	mustApply(t, leader, "k", "v")
	waitKeys(t, c.Members[fi].SM, 1)
}
