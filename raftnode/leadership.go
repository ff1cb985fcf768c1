package raftnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Leadership tracking. Leader changes come from a raft observer (raft
// pushes LeaderObservation and RaftState events) rather than from polling
// State(), and raft's LeaderCh is not used because it drops signals. Each
// event only wakes the observe loop, which re-reads the leader from raft, so
// coalesced events lose nothing.
//
// Readiness: a new leader may not yet have applied entries committed in
// earlier terms, so it serves no linearizable read until a Barrier issued
// in its own term has completed (hashicorp/raft#603). readyTerm records the
// term for which that happened.

// startLeadership registers the observer and starts the observe and
// readiness loops.
func (n *Node) startLeadership() {
	// Blocking, so no observation is ever dropped. It cannot stall raft for
	// long: the observe loop never blocks on anything but this channel and
	// keeps draining until Close has shut raft down and deregistered it.
	// The buffer absorbs bursts such as the events of one election.
	n.observer = raft.NewObserver(n.obsCh, true, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(n.observer)
	n.wg.Go(n.observeLoop)
	n.wg.Go(n.readinessLoop)
}

func (n *Node) observeLoop() {
	n.syncLeader() // anything that happened before the observer was registered
	for {
		select {
		case <-n.done:
			return
		case <-n.obsCh:
			n.syncLeader()
		}
	}
}

// syncLeader records raft's current leader, broadcasts a change, and wakes
// the readiness loop. It must not block: raft may be waiting to send the
// next observation.
func (n *Node) syncLeader() {
	addr, id := n.raft.LeaderWithID()
	n.mu.Lock()
	changed := NodeID(id) != n.leaderID || string(addr) != n.leaderAddr
	if changed {
		// A follower's last leader contact is raft's LastContact; only a
		// leader stepping down has none, so only that moment is recorded
		// (recording every observed loss would move "since" forward, to
		// when the loss was noticed, and make degraded flap).
		if n.leaderID == n.id {
			n.leaderLostAt = time.Now()
		}
		n.leaderID, n.leaderAddr = NodeID(id), string(addr)
		n.resetPeerHealthLocked()
		close(n.leaderCh)
		n.leaderCh = make(chan struct{})
	}
	n.mu.Unlock()
	if changed {
		if id == "" {
			n.log.Info("no known leader", "term", n.raft.CurrentTerm())
		} else {
			n.log.Info("leader changed", "leader_id", string(id), "term", n.raft.CurrentTerm())
		}
	}
	select {
	case n.kick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (n *Node) readinessLoop() {
	for {
		select {
		case <-n.done:
			return
		case <-n.kick:
			n.establishReadiness()
		}
	}
}

// establishReadiness issues the leader barrier for the current term, if
// this node leads and has not done so yet, and marks the term ready once
// the barrier has been applied.
func (n *Node) establishReadiness() {
	for n.raft.State() == raft.Leader {
		term := n.raft.CurrentTerm()
		if n.readyTermLoad() == term {
			return
		}
		f := n.raft.Barrier(n.cfg.DefaultTimeout)
		// Background: the loop's lifetime is bounded by n.stopping instead.
		resolved, err := n.await(context.Background(), f)
		if !resolved {
			return // shutting down
		}
		if err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				return // the next observation will wake us if we lead again
			}
			n.log.Warn("leader barrier failed; retrying", "term", term, "err", err)
			if !n.pause(n.cfg.HeartbeatTimeout) {
				return
			}
			continue
		}
		// The barrier was processed by the FSM goroutine after every entry
		// before it, including no-ops the state machine never sees.
		if fi, ok := f.(raft.IndexFuture); ok {
			n.fsm.processed(fi.Index())
		}
		// The barrier was issued after reading term, so if the term is still
		// the same it was committed in this term by this leader.
		if n.raft.CurrentTerm() == term && n.raft.State() == raft.Leader {
			n.setReady(term)
			n.log.Info("leader ready for linearizable reads", "term", term)
			return
		}
	}
}

// pause waits for d unless the node stops first; it reports whether the
// node is still running.
func (n *Node) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.stopping:
		return false
	case <-n.done:
		return false
	}
}

func (n *Node) readyTermLoad() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.readyTerm
}

func (n *Node) setReady(term uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.readyTerm = term
	close(n.readyCh)
	n.readyCh = make(chan struct{})
}

// readiness returns the ready term with channels closed at the next
// readiness or leader change.
func (n *Node) readiness() (term uint64, readyCh, leaderCh <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.readyTerm, n.readyCh, n.leaderCh
}

// Leader returns the current leader's ID and raft address as this node
// knows them, or empty strings if no leader is known.
func (n *Node) Leader() (NodeID, string) {
	addr, id := n.raft.LeaderWithID()
	return NodeID(id), string(addr)
}

// IsLeader reports whether this node is currently the leader. The answer
// can be stale by the time it is used; operations that need leadership
// (Apply, LinearizableRead) check it themselves.
func (n *Node) IsLeader() bool {
	return n.raft.State() == raft.Leader
}

// LeaderChanged returns a channel that is closed at the next change of
// leader observed by this node (including to "no leader" and on shutdown),
// so callers can wait without polling. Fetch the channel before checking
// Leader, then wait on it, so a change in between is not missed. Each
// change closes the channel once; call LeaderChanged again for the next.
func (n *Node) LeaderChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leaderCh
}

// TransferLeadership asks the leader to hand leadership to the most
// up-to-date voter and waits for the attempt to finish, as before a
// planned restart. It must run on the leader.
func (n *Node) TransferLeadership(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	f := n.raft.LeadershipTransfer()
	resolved, err := n.await(ctx, f)
	if !resolved {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	if err != nil {
		return n.fromRaft(err, f)
	}
	n.log.Info("leadership transferred")
	return nil
}

// TransferLeadershipTo hands leadership to the voter id and waits for the
// attempt to finish. An empty id picks the most up-to-date voter, as
// TransferLeadership does; id naming this leader does nothing. An id not in
// the configuration is ErrUnknownMember, a non-voter id is refused
// (ErrMembershipRefused: it cannot lead). It must run on the leader.
func (n *Node) TransferLeadershipTo(ctx context.Context, id NodeID) error {
	if id == "" {
		return n.TransferLeadership(ctx)
	}
	s, err := n.member(ctx, "transfer leadership", id)
	if err != nil {
		return err
	}
	if id == n.id {
		n.log.Debug("transfer leadership: already the leader")
		return nil
	}
	if s.Suffrage != raft.Voter {
		return fmt.Errorf("transfer leadership to %s: %w: %s is a non-voter and cannot lead; "+
			"promote it first", id, ErrMembershipRefused, id)
	}
	f := n.raft.LeadershipTransferToServer(s.ID, s.Address)
	resolved, err := n.await(ctx, f)
	if !resolved {
		return fmt.Errorf("transfer leadership to %s: %w", id, err)
	}
	if err != nil {
		return fmt.Errorf("transfer leadership to %s: %w", id, n.fromRaft(err, f))
	}
	n.log.Info("leadership transferred", "to", string(id))
	return nil
}
