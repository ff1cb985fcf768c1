package raftnode

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
)

// LinearizableRead returns nil once this node's state machine reflects every
// write committed before the call started, so the caller may then read it
// locally and observe a linearizable result. It must run on the leader and
// writes nothing to the log (the ReadIndex recipe, in the order described
// in hashicorp/raft#603):
//
//  1. wait until the leader barrier of the current term has been applied,
//     so entries committed by earlier leaders are in the state machine;
//  2. read the commit index;
//  3. confirm leadership with a quorum round (VerifyLeader), and check the
//     term has not moved, so no newer leader can have committed more;
//  4. wait until the state machine has applied the index read in step 2.
//
// Errors: *NotLeaderError or ErrNoLeader when this node does not lead or
// loses leadership during the read; ErrShutdown; or ctx's error (wrapped).
func (n *Node) LinearizableRead(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("linearizable read: %w", err)
	}
	var term uint64
	for {
		if n.raft.State() != raft.Leader {
			return n.notLeader()
		}
		term = n.raft.CurrentTerm()
		ready, readyCh, leaderCh := n.readiness()
		if ready == term {
			break
		}
		select {
		case <-readyCh:
		case <-leaderCh:
		case <-ctx.Done():
			return fmt.Errorf("linearizable read: wait for leader barrier: %w", ctx.Err())
		case <-n.stopping:
			return ErrShutdown
		}
	}

	idx := n.raft.CommitIndex()
	f := n.raft.VerifyLeader()
	resolved, err := n.await(ctx, f)
	if !resolved {
		return fmt.Errorf("linearizable read: verify leader: %w", err)
	}
	if err != nil {
		return n.fromRaft(err, f)
	}
	if n.raft.CurrentTerm() != term {
		return fmt.Errorf("%w: term changed during read", ErrNoLeader)
	}
	return n.WaitApplied(ctx, idx)
}

// WaitApplied blocks until the state machine has applied every entry up to
// index, ctx ends, or the node shuts down. It works on any node and does not
// poll. Indexes of entries that never reach the state machine (raft no-ops
// and barriers) count as applied once a later entry has been applied or, on
// the leader, once its barrier has.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		changed := n.fsm.applied.changed()
		if n.fsm.applied.load() >= index {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for applied index %d: %w", index, ctx.Err())
		case <-n.stopping:
			return ErrShutdown
		}
	}
}
