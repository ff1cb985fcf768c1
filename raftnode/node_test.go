package raftnode_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

const waitTimeout = 10 * time.Second

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// mustApply applies a set command on node and fails the test on error.
func mustApply(t *testing.T, n *raftnode.Node, key, value string) raftnode.ApplyResult {
	t.Helper()
	res, err := n.Apply(ctxTimeout(t, waitTimeout), raftnodetest.SetCmd(key, value))
	if err != nil {
		t.Fatalf("apply %s=%s on %s: %v", key, value, n.ID(), err)
	}
	return res
}

// waitKeys waits until sm holds n keys.
func waitKeys(t *testing.T, sm *raftnodetest.StateMachine, n int) {
	t.Helper()
	raftnodetest.WaitFor(t, waitTimeout, fmt.Sprintf("%d keys", n), func() bool { return sm.Len() == n })
}

func TestNode_BootstrapElectsOneLeader(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	leader := c.WaitLeader(waitTimeout)

	leaders := 0
	for i := range c.Members {
		st := c.Node(i).Status()
		if st.Role == "leader" {
			leaders++
		}
		if !st.Voter {
			t.Errorf("%s: Voter = false, want true", st.ID)
		}
		if st.LeaderID != c.Node(leader).ID() || st.LeaderAddr != c.Node(leader).RaftAddr() {
			t.Errorf("%s: leader = %s@%s, want %s@%s", st.ID, st.LeaderID, st.LeaderAddr,
				c.Node(leader).ID(), c.Node(leader).RaftAddr())
		}
		if i == leader && st.LastContact != 0 {
			t.Errorf("leader LastContact = %v, want 0", st.LastContact)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d nodes report role leader, want 1", leaders)
	}
	members, err := c.Node(leader).Members(ctxTimeout(t, waitTimeout))
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if len(members) != 3 {
		t.Fatalf("Members = %v, want 3", members)
	}
}

func TestNode_ApplyReplicates(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	leader := c.Node(c.WaitLeader(waitTimeout))

	first := mustApply(t, leader, "a", "1")
	if first.Response != "" {
		t.Errorf("first response = %v, want previous value \"\"", first.Response)
	}
	second := mustApply(t, leader, "a", "2")
	if second.Response != "1" || second.Index <= first.Index {
		t.Errorf("second = %+v, want response \"1\" and index > %d", second, first.Index)
	}
	for i := 0; i < 8; i++ {
		mustApply(t, leader, fmt.Sprintf("k%d", i), "v")
	}
	for _, m := range c.Members {
		waitKeys(t, m.SM, 9)
		if v, _ := m.SM.Get("a"); v != "2" {
			t.Errorf("%s: a = %q, want 2", m.Config.ID, v)
		}
		if st := m.SM.Stats(); st.Applies != 10 || st.Replays != 0 {
			t.Errorf("%s: stats %+v, want 10 applies, 0 replays", m.Config.ID, st)
		}
	}
}

func TestNode_ApplyOnFollowerReturnsLeaderHint(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	leader := c.Node(li)

	for _, fi := range c.Followers(li) {
		_, err := c.Node(fi).Apply(ctxTimeout(t, waitTimeout), raftnodetest.SetCmd("k", "v"))
		var nle *raftnode.NotLeaderError
		if !errors.As(err, &nle) {
			t.Fatalf("Apply on follower: err = %v, want *NotLeaderError", err)
		}
		if !errors.Is(err, raftnode.ErrNotLeader) {
			t.Errorf("errors.Is(%v, ErrNotLeader) = false", err)
		}
		if nle.LeaderID != leader.ID() || nle.LeaderRaftAddr != leader.RaftAddr() {
			t.Errorf("hint = %s@%s, want %s@%s", nle.LeaderID, nle.LeaderRaftAddr, leader.ID(), leader.RaftAddr())
		}
	}
}

func TestNode_ContextAlreadyCancelled(t *testing.T) {
	c := raftnodetest.StartCluster(t, 1)
	n := c.Node(c.WaitLeader(waitTimeout))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	start := time.Now()
	if _, err := n.Apply(ctx, raftnodetest.SetCmd("k", "v")); !errors.Is(err, context.Canceled) || errors.Is(err, raftnode.ErrOutcomeUnknown) {
		t.Errorf("Apply: err = %v, want context.Canceled and not ErrOutcomeUnknown (nothing proposed)", err)
	}
	if err := n.LinearizableRead(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("LinearizableRead: err = %v, want context.Canceled", err)
	}
	if err := n.WaitApplied(ctx, 1<<40); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitApplied: err = %v, want context.Canceled", err)
	}
	if err := n.AddVoter(ctx, "x", "127.0.0.1:1"); !errors.Is(err, context.Canceled) {
		t.Errorf("AddVoter: err = %v, want context.Canceled", err)
	}
	if _, err := n.Members(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Members: err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancelled calls took %v", d)
	}
}

func TestNode_LeaderFailoverAndCatchUp(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	old := c.WaitLeader(waitTimeout)
	for i := 0; i < 10; i++ {
		mustApply(t, c.Node(old), fmt.Sprintf("before%d", i), "v")
	}
	for _, m := range c.Members {
		waitKeys(t, m.SM, 10)
	}

	follower := c.Followers(old)[0]
	changed := c.Node(follower).LeaderChanged()
	c.Kill(old)
	select {
	case <-changed:
	case <-time.After(waitTimeout):
		t.Fatal("LeaderChanged not closed after the leader was killed")
	}

	nl := c.WaitLeader(waitTimeout)
	if nl == old {
		t.Fatalf("killed node %d still leader", old)
	}
	for i := 0; i < 5; i++ {
		mustApply(t, c.Node(nl), fmt.Sprintf("after%d", i), "v")
	}
	if err := c.Node(nl).LinearizableRead(ctxTimeout(t, waitTimeout)); err != nil {
		t.Fatalf("LinearizableRead on new leader: %v", err)
	}
	if n := c.Members[nl].SM.Len(); n != 15 {
		t.Fatalf("new leader has %d keys after linearizable read, want 15", n)
	}

	// The old leader restarts from its data dir and keeps its state
	// machine; it must catch up without applying anything twice.
	c.Restart(old)
	oldSM := c.Members[old].SM
	waitKeys(t, oldSM, 15)
	if st := oldSM.Stats(); st.Applies != 15 || st.Replays != 0 || st.Restores != 0 {
		t.Errorf("restarted node stats %+v, want 15 applies, 0 replays, 0 restores", st)
	}
	raftnodetest.WaitFor(t, waitTimeout, "restarted node to follow the new leader", func() bool {
		id, _ := c.Node(old).Leader()
		return id == c.Node(nl).ID()
	})
}

func TestNode_TransferLeadership(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	old := c.WaitLeader(waitTimeout)
	if err := c.Node(old).TransferLeadership(ctxTimeout(t, waitTimeout)); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	raftnodetest.WaitFor(t, waitTimeout, "another leader", func() bool {
		for i, m := range c.Members {
			if i != old && m.Node.IsLeader() {
				return true
			}
		}
		return false
	})
	err := c.Node(old).TransferLeadership(ctxTimeout(t, waitTimeout))
	if !errors.Is(err, raftnode.ErrNotLeader) && !errors.Is(err, raftnode.ErrNoLeader) {
		t.Fatalf("TransferLeadership on follower: err = %v, want not-leader", err)
	}
}

func TestNode_CloseIsIdempotent(t *testing.T) {
	c := raftnodetest.StartCluster(t, 1)
	n := c.Node(c.WaitLeader(waitTimeout))
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c.Members[0].Node = nil
	if _, err := n.Apply(t.Context(), raftnodetest.SetCmd("k", "v")); !errors.Is(err, raftnode.ErrShutdown) {
		t.Errorf("Apply after Close: err = %v, want ErrShutdown", err)
	}
	if err := n.LinearizableRead(t.Context()); !errors.Is(err, raftnode.ErrShutdown) {
		t.Errorf("LinearizableRead after Close: err = %v, want ErrShutdown", err)
	}
	if err := n.WaitApplied(t.Context(), 1<<40); !errors.Is(err, raftnode.ErrShutdown) {
		t.Errorf("WaitApplied after Close: err = %v, want ErrShutdown", err)
	}
	if role := n.Status().Role; role != "shutdown" {
		t.Errorf("Role after Close = %q, want shutdown", role)
	}
}

func TestNode_RestartSingleNode(t *testing.T) {
	c := raftnodetest.StartCluster(t, 1)
	mustApply(t, c.Node(c.WaitLeader(waitTimeout)), "k", "v1")
	c.Kill(0)
	c.Restart(0) // Bootstrap is still set: must be skipped quietly.
	n := c.Node(c.WaitLeader(waitTimeout))
	mustApply(t, n, "k", "v2")
	if st := c.Members[0].SM.Stats(); st.Applies != 2 || st.Replays != 0 {
		t.Errorf("stats %+v, want 2 applies and 0 replays", st)
	}
}
