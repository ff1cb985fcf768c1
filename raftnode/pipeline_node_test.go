package raftnode_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

// startWriters keeps four writers applying commands to the node target
// returns until the returned stop is called or the test ends. Their errors
// are expected while nodes restart or hand off; the point is load.
func startWriters(t *testing.T, target func() *raftnode.Node) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				_, _ = target().Apply(ctx, raftnodetest.SetCmd(fmt.Sprintf("w%d-%d", w, i), "v"))
			}
		})
	}
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

// TestNode_RestartedFollowerCatchesUpUnderLoad restarts a follower again
// and again while writers keep the leader's pipelines to it busy. Each time
// the leader's pipeline to it fails mid-stream and safePipeline stops it;
// raft must fall back to ordinary replication and bring the follower back
// to the leader's commit index every time. (The deadlock safePipeline
// removes is reproduced deterministically by
// TestPipeline_FailedAnswerDoesNotDeadlock; this test shows replication
// recovers through the closed pipelines, end to end.)
func TestNode_RestartedFollowerCatchesUpUnderLoad(t *testing.T) {
	const restarts = 8
	c := raftnodetest.StartCluster(t, 3)
	li := c.WaitLeader(waitTimeout)
	leader := c.Node(li)

	stop := startWriters(t, func() *raftnode.Node { return leader })

	fi := c.Followers(li)[0]
	for r := range restarts {
		at := leader.Status().CommitIndex
		raftnodetest.WaitFor(t, waitTimeout, "the follower to store the entries before the restart", func() bool {
			return c.Node(fi).Status().LastLogIndex >= at
		})
		c.Kill(fi)
		// Let the leader commit with the other follower alone, so that its
		// pipeline to the dead one has sends in flight when it fails.
		mid := leader.Status().CommitIndex
		raftnodetest.WaitFor(t, waitTimeout, "the leader to commit without the follower", func() bool {
			return leader.Status().CommitIndex >= mid+50
		})
		c.Restart(fi)
		target := leader.Status().CommitIndex
		raftnodetest.WaitFor(t, waitTimeout, fmt.Sprintf("restart %d: the follower to catch up to %d", r+1, target), func() bool {
			return c.Node(fi).Status().LastLogIndex >= target
		})
	}
	stop()
	if li2 := c.WaitLeader(waitTimeout); li2 != li {
		t.Logf("leadership moved from n%d to n%d during the test", li+1, li2+1)
	}
}

// TestNode_LeaderStopsAfterHandingOffUnderLoad hands leadership over, as a
// planned stop does, while writers keep the leader busy, then stops the old
// leader. The transfer raises the term, so the old leader's pipeline to the
// third node often gets a newer-term answer mid-stream, the answer after
// which hashicorp/raft's pipeline could deadlock and leave the old
// leader's Close waiting forever (see safePipeline); every stop must
// finish.
func TestNode_LeaderStopsAfterHandingOffUnderLoad(t *testing.T) {
	const handoffs = 8
	c := raftnodetest.StartCluster(t, 3)
	var target atomic.Pointer[raftnode.Node] // the node the writers write to
	target.Store(c.Node(c.WaitLeader(waitTimeout)))
	startWriters(t, target.Load)
	for h := range handoffs {
		li := c.WaitLeader(waitTimeout)
		old := c.Node(li)
		target.Store(old)
		if err := old.TransferLeadership(ctxTimeout(t, waitTimeout)); err != nil {
			t.Fatalf("hand-off %d: %v", h+1, err)
		}
		target.Store(c.Node(c.WaitLeader(waitTimeout)))
		closed := make(chan struct{})
		go func() { c.Kill(li); close(closed) }()
		raftnodetest.WaitFor(t, waitTimeout, fmt.Sprintf("hand-off %d: the old leader n%d to stop", h+1, li+1), func() bool {
			select {
			case <-closed:
				return true
			default:
				return false
			}
		})
		c.Restart(li)
	}
}
