package raftnode

import (
	"context"
	"fmt"
	"strings"
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
	return n.add(ctx, id, raftAddr, raft.Voter)
}

// AddNonvoter adds the node id at raftAddr as a non-voter (a read replica
// that receives the log but neither votes nor counts towards quorum), or
// updates its address, and waits until the change is committed. It is
// idempotent like AddVoter and removes a stale entry at raftAddr the same
// way. It never demotes: if id is already a voter it returns an error
// wrapping ErrMembershipRefused and changes nothing. It must run on the
// leader.
func (n *Node) AddNonvoter(ctx context.Context, id NodeID, raftAddr string) error {
	return n.add(ctx, id, raftAddr, raft.Nonvoter)
}

// add is AddVoter and AddNonvoter.
func (n *Node) add(ctx context.Context, id NodeID, raftAddr string, suffrage raft.ServerSuffrage) error {
	what := "add voter"
	if suffrage == raft.Nonvoter {
		what = "add non-voter"
	}
	if id == "" || raftAddr == "" {
		return fmt.Errorf("%s: %w: id and raft address are required (got id %q, raft address %q)",
			what, ErrInvalidArgument, id, raftAddr)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	servers, err := n.configuration()
	if err != nil {
		return err
	}
	for _, s := range servers {
		if NodeID(s.ID) == id && string(s.Address) == raftAddr && s.Suffrage == suffrage {
			n.log.Debug(what+": already a member", "member_id", string(id))
			return nil
		}
	}
	if err := n.verifyPeer(ctx, raftAddr); err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	for _, s := range servers {
		switch {
		case NodeID(s.ID) == id && suffrage == raft.Nonvoter && s.Suffrage == raft.Voter:
			return fmt.Errorf("%s %s: %w: %s is a voter and is never demoted; "+
				"remove it first to re-add it as a non-voter, or join it without nonvoter",
				what, id, ErrMembershipRefused, id)
		case NodeID(s.ID) != id && string(s.Address) == raftAddr:
			n.log.Info("removing stale member at joining node's address",
				"member_id", string(s.ID), "raft_addr", raftAddr)
			if err := n.RemoveServer(ctx, NodeID(s.ID)); err != nil {
				return fmt.Errorf("%s %s: remove stale member %s: %w", what, id, s.ID, err)
			}
		}
	}
	err = n.changeConfig(ctx, func(timeout time.Duration) raft.IndexFuture {
		if suffrage == raft.Nonvoter {
			return n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, timeout)
		}
		return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, timeout)
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	n.forgetPeer(id)
	n.log.Info("membership changed: "+what, "member_id", string(id), "raft_addr", raftAddr)
	return nil
}

// PromoteToVoter makes the non-voter id a voter at its current address and
// waits until the change is committed. Promoting a voter does nothing; an
// id not in the configuration is ErrUnknownMember. It must run on the
// leader.
func (n *Node) PromoteToVoter(ctx context.Context, id NodeID) error {
	s, err := n.member(ctx, "promote", id)
	if err != nil {
		return err
	}
	if s.Suffrage == raft.Voter {
		n.log.Debug("promote: already a voter", "member_id", string(id))
		return nil
	}
	return n.AddVoter(ctx, id, string(s.Address))
}

// RemoveServer removes the node id from the cluster and waits until the
// change is committed. An id not in the configuration is ErrUnknownMember;
// removing the only voter is refused (ErrMembershipRefused), since a
// cluster without voters can never elect a leader again. Removing the
// leader itself makes it step down (and, like any removed node, shut
// down). It must run on the leader.
func (n *Node) RemoveServer(ctx context.Context, id NodeID) error {
	s, err := n.member(ctx, "remove", id)
	if err != nil {
		return err
	}
	if s.Suffrage == raft.Voter {
		servers, err := n.configuration()
		if err != nil {
			return err
		}
		if countVoters(servers) <= 1 {
			return fmt.Errorf("remove %s: %w: %s is the last voter and a cluster without voters "+
				"can never elect a leader; add another voter first", id, ErrMembershipRefused, id)
		}
	}
	err = n.changeConfig(ctx, func(timeout time.Duration) raft.IndexFuture {
		return n.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	n.forgetPeer(id)
	n.log.Info("membership changed: removed server", "member_id", string(id))
	return nil
}

// member checks that a membership call for id can run here (a non-empty
// id, a live ctx, this node leading) and returns id's configuration entry,
// or ErrUnknownMember.
func (n *Node) member(ctx context.Context, what string, id NodeID) (raft.Server, error) {
	if id == "" {
		return raft.Server{}, fmt.Errorf("%s: %w: a member id is required", what, ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return raft.Server{}, fmt.Errorf("%s %s: %w", what, id, err)
	}
	if n.raft.State() != raft.Leader {
		return raft.Server{}, n.notLeader()
	}
	servers, err := n.configuration()
	if err != nil {
		return raft.Server{}, err
	}
	for _, s := range servers {
		if NodeID(s.ID) == id {
			return s, nil
		}
	}
	ids := make([]string, len(servers))
	for i, s := range servers {
		ids[i] = string(s.ID)
	}
	return raft.Server{}, fmt.Errorf("%s %s: %w: %q is not in the configuration (members: %s); "+
		"check the id with 'kvctl member list'", what, id, ErrUnknownMember, id, strings.Join(ids, ", "))
}

func countVoters(servers []raft.Server) int {
	v := 0
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			v++
		}
	}
	return v
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
