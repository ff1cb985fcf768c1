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
		AppliedIndex: n.fsm.applied.load(),
		LeaderID:     leaderID,
		LeaderAddr:   leaderAddr,
	}
	switch last := n.raft.LastContact(); {
	case state == raft.Leader:
		st.LastContact = 0
	case last.IsZero():
		st.LastContact = -1
	default:
		st.LastContact = time.Since(last)
	}
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
