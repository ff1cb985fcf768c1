package raftnode

import (
	"context"
	"fmt"
	"time"

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
//     term has not moved, so no newer leader can have committed more
//     (steps 2 and 3 are shared by concurrent reads: readround.go);
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

	// Steps 2 and 3 are made once for every read that joined the round.
	r := n.joinReadRound()
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("linearizable read: verify leader: %w", ctx.Err())
	case <-n.stopping:
		return ErrShutdown
	}
	if r.err != nil {
		return n.fromRaft(r.err, nil)
	}
	if n.raft.CurrentTerm() != term {
		return fmt.Errorf("%w: term changed during read", ErrNoLeader)
	}
	return n.WaitApplied(ctx, r.index)
}

// WaitApplied blocks until the state machine has applied every entry up to
// index, ctx ends, or the node shuts down. It works on any node. Indexes of
// entries that never reach the state machine (raft no-ops and barriers)
// count as applied once everything before them is (advanceOverSkipped).
//
// It wakes on every state machine apply. Raft gives no notification when it
// passes over a no-op or barrier, though, and on an idle cluster nothing may
// follow one (a new leader's first entries), so while the wanted index is
// not reached it also re-checks every skippedPoll.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	var poll *time.Ticker
	for {
		changed := n.fsm.applied.changed()
		if n.appliedIndex() >= index {
			if poll != nil {
				poll.Stop()
			}
			return nil
		}
		if poll == nil {
			poll = time.NewTicker(skippedPoll)
			defer poll.Stop()
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for applied index %d: %w", index, ctx.Err())
		case <-n.stopping:
			return ErrShutdown
		}
	}
}

// skippedPoll is how often WaitApplied re-checks for entries the state
// machine never sees.
const skippedPoll = 10 * time.Millisecond

// appliedIndex is the state machine's applied index, advanced over trailing
// no-ops and barriers.
func (n *Node) appliedIndex() uint64 {
	n.advanceOverSkipped()
	return n.fsm.applied.load()
}

// advanceOverSkipped counts entries that raft has already processed but
// never hands to the state machine (LogNoop, LogBarrier) as applied, when
// everything before them is applied. Without it a follower of an idle
// cluster would report applied < commit after an election (the new
// leader's no-op and barrier are its last entries) and look behind forever.
// It reads at most maxSkippedScan entries from the log store, stopping at
// the first entry the state machine does see.
//
// Under write load the next entry is nearly always a command on its way to
// the state machine, and every response header asks for the applied index,
// so the index of the last command found is remembered: while it is the
// next entry there is nothing to skip and the log is not read (reading and
// decoding it took an eighth of a busy leader's CPU).
func (n *Node) advanceOverSkipped() {
	const maxSkippedScan = 64
	applied := n.fsm.applied.load()
	if n.nextCommand.Load() == applied+1 {
		return // the state machine will advance past it itself
	}
	dispatched := n.raft.AppliedIndex() // committed and handed on, in order
	for idx := applied + 1; idx <= dispatched && idx <= applied+maxSkippedScan; idx++ {
		var l raft.Log
		if err := n.store.GetLog(idx, &l); err != nil {
			return // compacted into a snapshot or unreadable: leave it to the FSM
		}
		if l.Type != raft.LogNoop && l.Type != raft.LogBarrier {
			// A committed entry never changes, so this stays true.
			n.nextCommand.Store(idx)
			return
		}
		n.fsm.applied.advance(idx)
	}
}

// AppliedIndex is the index up to which every committed entry is reflected
// in the state machine (no-ops and barriers included). Reads that need data
// at least as new as some index wait for this, not the store's own counter.
func (n *Node) AppliedIndex() uint64 { return n.appliedIndex() }
