package raftnode_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

// TestNode_LeaderWritesItsLogInParallel holds the leader's own log write
// and shows that the entry still reaches the followers' disks and raft's
// commit index, but that no node applies it, no follower is told it is
// committed, and the write is not acknowledged, until the leader's copy is
// on disk too.
func TestNode_LeaderWritesItsLogInParallel(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	leader := c.Node(li)
	// Wait for the leader's barrier of its term (a linearizable read waits
	// for it), so that the entries below are the only ones in flight.
	if err := leader.LinearizableRead(ctxTimeout(t, waitTimeout)); err != nil {
		t.Fatalf("LinearizableRead: %v", err)
	}
	release := make(chan struct{})
	leader.HoldLeaderLogWrites(release)
	var releaseOnce sync.Once
	releaseWrites := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseWrites) // before the nodes close, which write what is queued

	applyIn := func(key string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := leader.Apply(ctxTimeout(t, waitTimeout), raftnodetest.SetCmd(key, "v"))
			done <- err
		}()
		return done
	}
	stored := func(index uint64) func() bool {
		return func() bool {
			for _, fi := range c.Followers(li) {
				if c.Node(fi).Status().LastLogIndex < index {
					return false
				}
			}
			return true
		}
	}

	before := leader.Status().LastLogIndex
	first := applyIn("k1")
	idx := before + 1
	raftnodetest.WaitFor(t, waitTimeout, "both followers to store the entry the leader has not written",
		stored(idx))
	raftnodetest.WaitFor(t, waitTimeout, "raft to count the entry committed", func() bool {
		return leader.Status().CommitIndex >= idx
	})
	// Replicating a second entry sends the followers a commit index that
	// raft already had at idx; they must not be told about idx.
	second := applyIn("k2")
	raftnodetest.WaitFor(t, waitTimeout, "both followers to store the second entry", stored(idx+1))

	for i, m := range c.Members {
		st := m.Node.Status()
		if _, ok := m.SM.Get("k1"); ok || st.AppliedIndex >= idx {
			t.Errorf("node %d applied entry %d (applied index %d) before the leader wrote it", i, idx, st.AppliedIndex)
		}
		if i != li && st.CommitIndex >= idx {
			t.Errorf("follower %d was told entry %d is committed (commit index %d) before the leader wrote it", i, idx, st.CommitIndex)
		}
	}
	select {
	case err := <-first:
		t.Fatalf("write acknowledged (err %v) before the leader's copy was on disk", err)
	default:
	}

	releaseWrites()
	for _, done := range []<-chan error{first, second} {
		if err := <-done; err != nil {
			t.Fatalf("Apply after the leader's write: %v", err)
		}
	}
	for _, m := range c.Members {
		raftnodetest.WaitFor(t, waitTimeout, "every node to apply both entries", func() bool {
			_, ok1 := m.SM.Get("k1")
			_, ok2 := m.SM.Get("k2")
			return ok1 && ok2
		})
	}
}

// TestNode_SerialLeaderAppend runs a cluster in hashicorp/raft's own
// order (the leader writes before it replicates) and checks writes still
// commit everywhere.
func TestNode_SerialLeaderAppend(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3, func(cfg *raftnode.Config) { cfg.SerialLeaderAppend = true })
	leader := c.Node(c.WaitLeader(waitTimeout))
	if _, err := leader.Apply(ctxTimeout(t, waitTimeout), raftnodetest.SetCmd("k", "v")); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for _, m := range c.Members {
		raftnodetest.WaitFor(t, waitTimeout, "every node to apply the write", func() bool {
			_, ok := m.SM.Get("k")
			return ok
		})
	}
}

// TestNode_FailedLeaderLogWriteStopsTheLeader fails the leader's own log
// write: the leader must not apply or acknowledge the entry, must stop as
// for a failed apply, and the rest of the cluster must carry on.
func TestNode_FailedLeaderLogWriteStopsTheLeader(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	leader := c.Node(li)
	if err := leader.LinearizableRead(ctxTimeout(t, waitTimeout)); err != nil {
		t.Fatalf("LinearizableRead: %v", err)
	}
	errDisk := errors.New("injected disk failure")
	leader.FailLeaderLogWrites(errDisk)

	_, err := leader.Apply(ctxTimeout(t, waitTimeout), raftnodetest.SetCmd("k1", "v"))
	if !errors.Is(err, raftnode.ErrOutcomeUnknown) || !errors.Is(err, raftnode.ErrShutdown) {
		t.Fatalf("Apply whose leader write failed: err = %v, want ErrOutcomeUnknown and ErrShutdown", err)
	}
	raftnodetest.WaitFor(t, waitTimeout, "the leader to shut down", func() bool {
		return leader.Status().Role == "shutdown"
	})
	if _, ok := c.Members[li].SM.Get("k1"); ok {
		t.Error("the leader applied an entry it failed to write")
	}
	if err := leader.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close = %v, want the write error", err)
	}
	c.Members[li].Node = nil // closed above

	next := c.Node(c.WaitLeader(waitTimeout))
	if _, err := next.Apply(ctxTimeout(t, waitTimeout), raftnodetest.SetCmd("k2", "v")); err != nil {
		t.Fatalf("Apply on the new leader: %v", err)
	}
}
