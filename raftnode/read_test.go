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

func TestNode_LinearizableReadOnFollower(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	for _, fi := range c.Followers(li) {
		err := c.Node(fi).LinearizableRead(ctxTimeout(t, waitTimeout))
		var nle *raftnode.NotLeaderError
		if !errors.As(err, &nle) || nle.LeaderID != c.Node(li).ID() {
			t.Fatalf("LinearizableRead on follower: err = %v, want *NotLeaderError for %s", err, c.Node(li).ID())
		}
	}
}

// TestNode_LinearizableReadWaitsForApplied holds the state machines back
// after an entry is committed and checks that a linearizable read does not
// return until the leader has applied it.
func TestNode_LinearizableReadWaitsForApplied(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	leader := c.Node(li)
	mustApply(t, leader, "warm", "up")
	if err := leader.LinearizableRead(ctxTimeout(t, waitTimeout)); err != nil {
		t.Fatalf("LinearizableRead: %v", err)
	}

	gate := make(chan struct{})
	for _, m := range c.Members {
		m.SM.SetApplyHook(func(uint64, []byte) { <-gate })
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(release) // never leave raft's FSM goroutines blocked

	// The write commits but cannot be applied; its deadline expires with
	// the outcome unknown.
	_, err := leader.Apply(ctxTimeout(t, 300*time.Millisecond), raftnodetest.SetCmd("held", "v"))
	if !errors.Is(err, raftnode.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply with held state machine: err = %v, want ErrOutcomeUnknown and DeadlineExceeded", err)
	}
	raftnodetest.WaitFor(t, waitTimeout, "commit index ahead of applied index", func() bool {
		st := leader.Status()
		return st.CommitIndex > st.AppliedIndex
	})

	// Now a read must wait for the held entry.
	err = leader.LinearizableRead(ctxTimeout(t, 200*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LinearizableRead with unapplied commit: err = %v, want DeadlineExceeded", err)
	}

	readErr := make(chan error, 1)
	go func() { readErr <- leader.LinearizableRead(context.Background()) }()
	release()
	if err := <-readErr; err != nil {
		t.Fatalf("LinearizableRead after release: %v", err)
	}
	if v, ok := c.Members[li].SM.Get("held"); !ok || v != "v" {
		t.Fatalf("after linearizable read, held = %q, %v; want v", v, ok)
	}
}

func TestNode_WaitApplied(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	res := mustApply(t, c.Node(li), "k", "v")
	for i, m := range c.Members {
		if err := m.Node.WaitApplied(ctxTimeout(t, waitTimeout), res.Index); err != nil {
			t.Fatalf("node %d WaitApplied(%d): %v", i, res.Index, err)
		}
		if v, _ := m.SM.Get("k"); v != "v" {
			t.Fatalf("node %d: k = %q after WaitApplied, want v", i, v)
		}
	}
	err := c.Node(li).WaitApplied(ctxTimeout(t, 50*time.Millisecond), res.Index+1000)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied(future index): err = %v, want DeadlineExceeded", err)
	}
}

// TestNode_AppliedCountsNoopsAfterIdleRestart is a regression test: after
// every node of an idle cluster restarts, the new leader's no-op and
// barrier are the last log entries. The state machine never sees them, yet
// every node must report applied == commit (and WaitApplied must return)
// without waiting for a write.
func TestNode_AppliedCountsNoopsAfterIdleRestart(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	leader := c.WaitLeader(waitTimeout)
	mustApply(t, c.Node(leader), "k", "v")
	for round := range 2 {
		for i := range 3 {
			c.Kill(i)
		}
		for i := range 3 {
			c.Restart(i)
		}
		leader = c.WaitLeader(waitTimeout)
		for i := range 3 {
			n := c.Node(i)
			raftnodetest.WaitFor(t, waitTimeout, fmt.Sprintf("round %d: %s applied to reach commit", round, n.ID()), func() bool {
				st := n.Status()
				return st.CommitIndex > 0 && st.AppliedIndex >= st.CommitIndex && st.AppliedIndex == n.AppliedIndex()
			})
			if err := n.WaitApplied(ctxTimeout(t, time.Second), n.Status().CommitIndex); err != nil {
				t.Fatalf("round %d: WaitApplied(commit) on %s: %v", round, n.ID(), err)
			}
		}
	}
}

// TestNode_LinearizableReadsShareARound shows the ReadIndex batching:
// reads that arrive while no round has started all wait for one
// leadership check, and all succeed.
func TestNode_LinearizableReadsShareARound(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	leader := c.Node(c.WaitLeader(waitTimeout))
	mustApply(t, leader, "k", "v")
	release := make(chan struct{})
	leader.HoldReadRounds(release)
	const reads = 50
	errs := make(chan error, reads)
	for range reads {
		go func() { errs <- leader.LinearizableRead(ctxTimeout(t, waitTimeout)) }()
	}
	raftnodetest.WaitFor(t, waitTimeout, fmt.Sprintf("%d reads waiting for a round", reads), func() bool {
		_, waiting := leader.ReadRoundStats()
		return waiting == reads
	})
	before, _ := leader.ReadRoundStats()
	close(release)
	for range reads {
		if err := <-errs; err != nil {
			t.Fatalf("LinearizableRead: %v", err)
		}
	}
	if after, _ := leader.ReadRoundStats(); after-before != 1 {
		t.Fatalf("%d reads took %d leadership rounds, want 1", reads, after-before)
	}
}
