package raftnode

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Member is one server in the raft configuration.
type Member struct {
	// ID is the member's stable node ID.
	ID NodeID
	// RaftAddr is the member's raft address.
	RaftAddr string
	// Voter reports whether the member votes in elections and counts
	// towards quorum (false for a non-voter or a staging server).
	Voter bool
}

// Members returns the latest cluster configuration known to this node, in
// raft's order. On the leader that is the authoritative view (possibly
// including a change not yet committed); a follower may lag behind it.
func (n *Node) Members(ctx context.Context) ([]Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	servers, err := n.configuration()
	if err != nil {
		return nil, err
	}
	members := make([]Member, 0, len(servers))
	for _, s := range servers {
		members = append(members, Member{
			ID:       NodeID(s.ID),
			RaftAddr: string(s.Address),
			Voter:    s.Suffrage == raft.Voter,
		})
	}
	return members, nil
}

// configuration returns the latest configuration's servers. Raft answers
// GetConfiguration from memory and resolves the future before returning it,
// so waiting on it cannot block.
func (n *Node) configuration() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.fromRaft(err, f)
	}
	return f.Configuration().Servers, nil
}

// AddVoter adds the node id at raftAddr as a voter, or updates it, and waits
// until the change is committed. It is idempotent: if id is already a voter
// at raftAddr it does nothing; if id is present at another address its
// address is updated; a non-voter id is promoted. A different server
// registered at raftAddr is a stale entry for a node that was replaced, and
// is removed first. It must run on the leader.
func (n *Node) AddVoter(ctx context.Context, id NodeID, raftAddr string) error {
	if id == "" || raftAddr == "" {
		return fmt.Errorf("add voter: id and raft address are required")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("add voter %s: %w", id, err)
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	servers, err := n.configuration()
	if err != nil {
		return err
	}
	for _, s := range servers {
		switch {
		case NodeID(s.ID) == id && string(s.Address) == raftAddr && s.Suffrage == raft.Voter:
			n.log.Debug("add voter: already a voter", "member_id", string(id))
			return nil
		case NodeID(s.ID) != id && string(s.Address) == raftAddr:
			n.log.Info("removing stale member at joining node's address",
				"member_id", string(s.ID), "raft_addr", raftAddr)
			if err := n.RemoveServer(ctx, NodeID(s.ID)); err != nil {
				return fmt.Errorf("add voter %s: remove stale member %s: %w", id, s.ID, err)
			}
		}
	}
	err = n.changeConfig(ctx, func(timeout time.Duration) raft.IndexFuture {
		return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, timeout)
	})
	if err != nil {
		return fmt.Errorf("add voter %s: %w", id, err)
	}
	n.log.Info("added voter", "member_id", string(id), "raft_addr", raftAddr)
	return nil
}

// RemoveServer removes the node id from the cluster and waits until the
// change is committed. Removing an unknown id does nothing. Removing the
// leader itself makes it step down (and, like any removed node, shut
// down). It must run on the leader.
func (n *Node) RemoveServer(ctx context.Context, id NodeID) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	servers, err := n.configuration()
	if err != nil {
		return err
	}
	found := false
	for _, s := range servers {
		if NodeID(s.ID) == id {
			found = true
			break
		}
	}
	if !found {
		n.log.Debug("remove server: not a member", "member_id", string(id))
		return nil
	}
	err = n.changeConfig(ctx, func(timeout time.Duration) raft.IndexFuture {
		return n.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	})
	if err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	n.log.Info("removed server", "member_id", string(id))
	return nil
}

// changeConfig runs one configuration change and waits for it to commit,
// translating errors like Apply does (a change already appended to the log
// may still commit: ErrOutcomeUnknown).
func (n *Node) changeConfig(ctx context.Context, change func(time.Duration) raft.IndexFuture) error {
	f := change(n.raftTimeout(ctx))
	resolved, err := n.await(ctx, f)
	if !resolved {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	return n.fromRaft(err, f)
}
