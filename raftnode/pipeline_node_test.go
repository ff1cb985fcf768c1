package raftnode_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

// writeTarget is the node the writers apply to. set waits until no write
// is in flight on the node it replaces, so that node can then be stopped
// without abandoning a write in raft's queue (raft never answers those,
// and the goroutine waiting for the answer would stay behind; main_test.go).
type writeTarget struct {
	mu sync.RWMutex
	n  *raftnode.Node
}

func (w *writeTarget) set(n *raftnode.Node) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n = n
}

// apply applies cmd on the target; errors are expected while nodes restart
// or hand off, and the point is load.
func (w *writeTarget) apply(ctx context.Context, cmd []byte) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	_, _ = w.n.Apply(ctx, cmd)
}

// startWriters keeps four writers applying commands to target until the
// returned stop is called or the test ends. stop cancels writes in flight;
// it then waits until the target has applied everything committed, which
// answers the cancelled writes' futures before the nodes stop.
func startWriters(t *testing.T, target *writeTarget) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				target.apply(ctx, raftnodetest.SetCmd(fmt.Sprintf("w%d-%d", w, i), "v"))
			}
		})
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			raftnodetest.WaitFor(t, waitTimeout, "the writers' entries to be applied", func() bool {
				// Not t's context: this may run as a cleanup, after it ends.
				rctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				return target.n.LinearizableRead(rctx) == nil
			})
		})
	}
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

	target := &writeTarget{n: leader}
	stop := startWriters(t, target)

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
	target := &writeTarget{n: c.Node(c.WaitLeader(waitTimeout))}
	startWriters(t, target)
	for h := range handoffs {
		li := c.WaitLeader(waitTimeout)
		old := c.Node(li)
		target.set(old)
		// raft's hand-off is best effort (it gives up after an election
		// timeout if the target has not taken over), and on a loaded
		// machine an election may even hand leadership back; a planned
		// stop just goes ahead. Here it is tried until another node leads.
		next := -1
		raftnodetest.WaitFor(t, waitTimeout, fmt.Sprintf("hand-off %d: another node than n%d to lead", h+1, li+1), func() bool {
			if old.IsLeader() {
				if err := old.TransferLeadership(ctxTimeout(t, waitTimeout)); err != nil {
					t.Logf("hand-off %d: %v", h+1, err)
				}
				return false
			}
			for i, m := range c.Members {
				if i != li && m.Node != nil && m.Node.IsLeader() {
					next = i
					return true
				}
			}
			return false
		})
		target.set(c.Node(next)) // no write is in flight on the old leader after this
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
