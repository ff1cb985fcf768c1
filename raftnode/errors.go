package raftnode

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Errors returned by Node. They are the only failure vocabulary callers need:
// raft's own errors are translated into these at this package's edge, so no
// package above raftnode has to import hashicorp/raft. Use errors.Is to test
// for them; the returned errors are often wrapped with context.
var (
	// ErrNotLeader reports that the operation must run on the leader and this
	// node is not it. Nothing was proposed, so retrying on the leader is safe.
	// When the leader is known the error is a *NotLeaderError carrying the
	// hint; errors.Is(err, ErrNotLeader) is true for both forms.
	ErrNotLeader = errors.New("raftnode: not the leader")

	// ErrNoLeader reports that no leader is currently known (an election is
	// in progress, a leadership transfer is running, or the leader changed
	// while the operation was being prepared). Nothing was proposed; retry
	// after a short backoff.
	ErrNoLeader = errors.New("raftnode: no known leader")

	// ErrOutcomeUnknown reports that a command was handed to raft but this
	// node cannot tell whether it was committed: leadership was lost
	// mid-commit, the node shut down, or the caller's context ended first.
	// The command may still take effect. Only retry writes the state machine
	// deduplicates.
	ErrOutcomeUnknown = errors.New("raftnode: outcome unknown")

	// ErrNotProposed reports that raft did not accept the operation in time
	// (its queue was full until the deadline). Nothing was proposed, so a
	// retry is safe.
	ErrNotProposed = errors.New("raftnode: operation not proposed")

	// ErrShutdown reports that the node is shut down or shutting down,
	// either through Close or after a fatal state machine error.
	ErrShutdown = errors.New("raftnode: node is shut down")

	// ErrNoQuorum reports that the node has lost contact with a quorum (it
	// is degraded, see Node.Degraded): writes and linearizable reads cannot
	// succeed until it is restored. Nothing was proposed. The error is a
	// *NoQuorumError carrying since when.
	ErrNoQuorum = errors.New("raftnode: no quorum")

	// ErrInvalidArgument reports a membership request that is malformed, for
	// example an empty id or address. Nothing was changed.
	ErrInvalidArgument = errors.New("raftnode: invalid argument")

	// ErrUnknownMember reports that the id named by a membership or
	// leadership request is not in the cluster's configuration. Nothing was
	// changed.
	ErrUnknownMember = errors.New("raftnode: no such member")

	// ErrMembershipRefused reports a membership or leadership change that
	// conflicts with the current configuration: removing the last voter,
	// demoting a voter through a non-voter join, or handing leadership to a
	// non-voter. Nothing was changed; the wrapped message says what to do.
	ErrMembershipRefused = errors.New("raftnode: membership change refused")
)

// NoQuorumError is returned, instead of waiting for a timeout, by Apply and
// LinearizableRead on a degraded node.
type NoQuorumError struct {
	// Since is when the node last heard from a leader (or started).
	Since time.Time
}

// Error implements error.
func (e *NoQuorumError) Error() string {
	return fmt.Sprintf("raftnode: no quorum: no contact with a leader since %s (%s ago)",
		e.Since.UTC().Format(time.RFC3339Nano), time.Since(e.Since).Round(time.Millisecond))
}

// Is reports whether target is ErrNoQuorum.
func (e *NoQuorumError) Is(target error) bool { return target == ErrNoQuorum }

// NotLeaderError is returned instead of a bare ErrNotLeader when this node
// knows who the leader is, so the caller can retry there at once.
type NotLeaderError struct {
	// LeaderID is the stable ID of the current leader.
	LeaderID NodeID
	// LeaderRaftAddr is the leader's raft (peer) address. It is not the
	// leader's client address; that is replicated application metadata.
	LeaderRaftAddr string
}

// Error implements error.
func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("raftnode: not the leader; leader is %s at %s", e.LeaderID, e.LeaderRaftAddr)
}

// Is reports whether target is ErrNotLeader, so errors.Is(err, ErrNotLeader)
// matches a *NotLeaderError.
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNotLeader
}

// fromRaft translates an error from a resolved raft future into this
// package's errors. An operation whose log entry this leader had already
// written (index > 0) may still commit, so losing track of it is
// ErrOutcomeUnknown rather than a clean failure.
func (n *Node) fromRaft(err error, f raft.Future) error {
	proposed := false
	if idx, ok := f.(raft.IndexFuture); ok && idx.Index() > 0 {
		proposed = true
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return n.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost):
		if proposed {
			return fmt.Errorf("%w: leadership lost while committing", ErrOutcomeUnknown)
		}
		return n.notLeader()
	case errors.Is(err, raft.ErrRaftShutdown):
		if proposed {
			return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrShutdown)
		}
		return ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrNotProposed
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: leadership transfer in progress", ErrNoLeader)
	default:
		return fmt.Errorf("raft: %w", err)
	}
}

// notLeader builds the error for an operation attempted off the leader:
// *NotLeaderError with a hint when another node is known to lead,
// ErrNoLeader otherwise, ErrShutdown once the node is down.
func (n *Node) notLeader() error {
	state := n.raft.State()
	if state == raft.Shutdown {
		return ErrShutdown
	}
	if degraded, since := n.degraded(state); degraded {
		return &NoQuorumError{Since: since}
	}
	addr, id := n.raft.LeaderWithID()
	if id == "" || NodeID(id) == n.id {
		// Unknown, or ourselves in a stale view while stepping down.
		return ErrNoLeader
	}
	return &NotLeaderError{LeaderID: NodeID(id), LeaderRaftAddr: string(addr)}
}
