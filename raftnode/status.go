package raftnode

import (
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Status is a point-in-time summary of a node, for health checks, metrics
// and operators. Fields are read one by one and are not a consistent
// snapshot of each other.
type Status struct {
	// ID is this node's ID.
	ID NodeID
	// RaftAddr is this node's advertised raft address.
	RaftAddr string
	// Role is "leader", "follower", "candidate" or "shutdown". A node halted
	// by a fatal state machine error reports "shutdown".
	Role string
	// Voter reports whether this node is a voter in its latest known
	// configuration.
	Voter bool
	// Term is the current raft term.
	Term uint64
	// LastLogIndex is the index of the last entry in the log (or of the last
	// snapshot, if later).
	LastLogIndex uint64
	// CommitIndex is the highest index known to be committed.
	CommitIndex uint64
	// AppliedIndex is the highest index reflected in the state machine.
	AppliedIndex uint64
	// LastContact is the time since the leader was last heard from: 0 on
	// the leader, -1 if never.
	LastContact time.Duration
	// LeaderID is the current leader's ID, "" if unknown.
	LeaderID NodeID
	// LeaderAddr is the current leader's raft address, "" if unknown.
	LeaderAddr string
	// Degraded is true when the node has lost contact with a quorum: see
	// Node.Degraded.
	Degraded bool
	// DegradedSince is when the node last heard from a leader (or started,
	// or shut down), set only when Degraded.
	DegradedSince time.Time
}

// Contact is the part of Status every response header carries: who
// leads, in which term, and how recently this node heard from it.
type Contact struct {
	// LeaderID is the current leader's ID, "" if unknown.
	LeaderID NodeID
	// Term is the current raft term.
	Term uint64
	// LastContact is as in Status: 0 on the leader, -1 if never.
	LastContact time.Duration
	// Degraded is as in Status.
	Degraded bool
}

// Contact returns the leader, term and contact fields of Status without
// the configuration lookup, log indexes and role name that Status also
// computes; it runs on every request. It does not block.
func (n *Node) Contact() Contact {
	state := n.raft.State()
	leaderID, _ := n.Leader()
	c := Contact{LeaderID: leaderID, Term: n.raft.CurrentTerm(), LastContact: n.lastContact(state)}
	c.Degraded, _ = n.degraded(state)
	return c
}

// lastContact is Status.LastContact for a node in state.
func (n *Node) lastContact(state raft.RaftState) time.Duration {
	if state == raft.Leader {
		return 0
	}
	last := n.raft.LastContact()
	if last.IsZero() {
		return -1
	}
	return time.Since(last)
}

// Status returns the node's current status. It does not block.
func (n *Node) Status() Status {
	state := n.raft.State()
	leaderID, leaderAddr := n.Leader()
	st := Status{
		ID:           n.id,
		RaftAddr:     n.addr,
		Role:         strings.ToLower(state.String()),
		Term:         n.raft.CurrentTerm(),
		LastLogIndex: n.raft.LastIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.appliedIndex(),
		LeaderID:     leaderID,
		LeaderAddr:   leaderAddr,
		LastContact:  n.lastContact(state),
	}
	st.Degraded, st.DegradedSince = n.degraded(state)
	// Already resolved: raft answers from memory.
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if NodeID(s.ID) == n.id {
				st.Voter = s.Suffrage == raft.Voter
				break
			}
		}
	}
	return st
}

// Degraded reports whether the node has lost contact with a quorum, and
// since when. Such a node cannot commit writes or serve linearizable reads,
// so callers refuse them at once instead of waiting for a timeout; stale
// reads of local data still work.
//
// A follower or candidate is degraded when it has not heard from a leader
// for longer than DegradedAfter: twice the heartbeat timeout (raft
// randomises a follower's wait for a missing leader between one and two
// heartbeat timeouts) plus one election timeout (a first election round).
// A healthy cluster elects a new leader well within that, so an ordinary
// failover is not reported as lost quorum. A leader is never reported
// degraded: hashicorp/raft makes a leader that cannot reach a quorum step
// down after LeaderLeaseTimeout, after which the rule above applies, counted
// from the step-down. A node that has never heard from a leader counts from
// its start, so a lone node restarted while its peers are down is degraded
// DegradedAfter after it starts.
func (n *Node) Degraded() (bool, time.Time) {
	return n.degraded(n.raft.State())
}

func (n *Node) degraded(state raft.RaftState) (bool, time.Time) {
	switch state {
	case raft.Leader:
		return false, time.Time{}
	case raft.Shutdown:
		return true, time.Now()
	}
	// The last sign of a leader: a message from one (raft's LastContact),
	// the moment this node stopped leading (a leader that stepped down has
	// no LastContact of its own), or the node's start.
	last := n.startedAt
	if lc := n.raft.LastContact(); lc.After(last) {
		last = lc
	}
	n.mu.Lock()
	if n.leaderLostAt.After(last) {
		last = n.leaderLostAt
	}
	n.mu.Unlock()
	if time.Since(last) > n.DegradedAfter() {
		return true, last
	}
	return false, time.Time{}
}

// DegradedAfter is how long without a leader makes a node degraded.
func (n *Node) DegradedAfter() time.Duration {
	return 2*n.cfg.HeartbeatTimeout + n.cfg.ElectionTimeout
}
