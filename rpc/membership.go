package rpc

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/raftnode"
)

// Membership changes beyond Join. Each runs on the leader; a follower
// forwards it there (once), like Join. Bad input is refused by raftnode
// before anything is proposed, and toStatus maps the refusal:
// InvalidArgument for an empty id, NotFound for an unknown one,
// FailedPrecondition for a change the configuration forbids.

// RemoveMember implements kvpb.ClusterServer.
func (s *Server) RemoveMember(ctx context.Context, req *kvpb.RemoveMemberRequest) (*kvpb.RemoveMemberResponse, error) {
	if req.GetId() == "" {
		return nil, invalidArgument("remove member needs the id of the member to remove")
	}
	if err := s.node.RemoveServer(ctx, raftnode.NodeID(req.GetId())); err != nil {
		return forwardOr(ctx, s, err, true, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.RemoveMemberResponse, error) {
			return kvpb.NewClusterClient(cc).RemoveMember(ctx, req, opts...)
		})
	}
	return &kvpb.RemoveMemberResponse{Header: s.header()}, nil
}

// PromoteMember implements kvpb.ClusterServer.
func (s *Server) PromoteMember(ctx context.Context, req *kvpb.PromoteMemberRequest) (*kvpb.PromoteMemberResponse, error) {
	if req.GetId() == "" {
		return nil, invalidArgument("promote member needs the id of the non-voter to promote")
	}
	if err := s.node.PromoteToVoter(ctx, raftnode.NodeID(req.GetId())); err != nil {
		return forwardOr(ctx, s, err, true, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.PromoteMemberResponse, error) {
			return kvpb.NewClusterClient(cc).PromoteMember(ctx, req, opts...)
		})
	}
	return &kvpb.PromoteMemberResponse{Header: s.header()}, nil
}

// TransferLeadership implements kvpb.ClusterServer.
func (s *Server) TransferLeadership(ctx context.Context, req *kvpb.TransferLeadershipRequest) (*kvpb.TransferLeadershipResponse, error) {
	if err := s.node.TransferLeadershipTo(ctx, raftnode.NodeID(req.GetToId())); err != nil {
		return forwardOr(ctx, s, err, true, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.TransferLeadershipResponse, error) {
			return kvpb.NewClusterClient(cc).TransferLeadership(ctx, req, opts...)
		})
	}
	return &kvpb.TransferLeadershipResponse{Header: s.header()}, nil
}

// ProbeMember asks member id, at its replicated client address, for the
// index its state machine has applied (its Status). The leader's
// autopilot uses it to tell whether a non-voter has caught up. It reuses
// the forwarding connections.
func (s *Server) ProbeMember(ctx context.Context, id raftnode.NodeID) (uint64, error) {
	addr := s.leaderAddr(id)
	if addr == "" {
		return 0, fmt.Errorf("probe %s: its client address is not registered yet", id)
	}
	cc, err := s.fwd.conn(addr)
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", id, err)
	}
	st, err := kvpb.NewClusterClient(cc).Status(s.withNodeAuth(ctx), &kvpb.StatusRequest{})
	if err != nil {
		return 0, fmt.Errorf("probe %s at %s: %w", id, addr, err)
	}
	if st.GetId() != string(id) {
		return 0, fmt.Errorf("probe %s at %s: answered by %q", id, addr, st.GetId())
	}
	return st.GetAppliedIndex(), nil
}
