package rpc

import (
	"context"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/store"
)

// Members implements kvpb.ClusterServer. It answers from this node's view of
// the latest raft configuration, joined with the replicated client addresses.
func (s *Server) Members(ctx context.Context, _ *kvpb.MembersRequest) (*kvpb.MembersResponse, error) {
	members, err := s.node.Members(ctx)
	if err != nil {
		return nil, err
	}
	leaderID, _ := s.node.Leader()
	out := make([]*kvpb.Member, len(members))
	for i, m := range members {
		grpcAddr := ""
		if meta, ok := s.reader.NodeMeta(string(m.ID)); ok {
			grpcAddr = meta.GRPCAddr
		}
		if m.ID == s.node.ID() {
			grpcAddr = s.cfg.GRPCAddr
		}
		out[i] = &kvpb.Member{
			Id:       string(m.ID),
			GrpcAddr: grpcAddr,
			RaftAddr: m.RaftAddr,
			Voter:    m.Voter,
			Leader:   m.ID == leaderID && leaderID != "",
		}
	}
	return &kvpb.MembersResponse{Header: s.header(), Members: out}, nil
}

// Status implements kvpb.ClusterServer. It always describes the answering
// node and is never forwarded.
func (s *Server) Status(_ context.Context, _ *kvpb.StatusRequest) (*kvpb.StatusResponse, error) {
	st := s.node.Status()
	return &kvpb.StatusResponse{
		Header:        s.header(),
		Id:            string(st.ID),
		GrpcAddr:      s.cfg.GRPCAddr,
		RaftAddr:      st.RaftAddr,
		Role:          st.Role,
		Voter:         st.Voter,
		Term:          st.Term,
		LastLogIndex:  st.LastLogIndex,
		CommitIndex:   st.CommitIndex,
		AppliedIndex:  s.node.AppliedIndex(),
		LastContactMs: lastContactMillis(st.LastContact),
	}, nil
}

// Join implements kvpb.ClusterServer: the leader adds the node as a voter,
// or a non-voter when asked (a no-op when it already is one at that
// address), and replicates its client address. A follower forwards the
// request to the leader.
func (s *Server) Join(ctx context.Context, req *kvpb.JoinRequest) (*kvpb.JoinResponse, error) {
	// Checked here too: registerSelf calls Join in-process, past the
	// interceptors.
	if err := validateRequest(req); err != nil {
		return nil, err
	}
	cmd, err := store.SetNodeMetaCommand(req.GetId(), req.GetGrpcAddr(), req.GetRaftAddr())
	if err != nil {
		return nil, err
	}
	if err := s.join(ctx, raftnode.NodeID(req.GetId()), req.GetRaftAddr(), req.GetNonvoter(), cmd, req.GetGrpcAddr()); err != nil {
		return forwardOr(ctx, s, err, true, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.JoinResponse, error) {
			return kvpb.NewClusterClient(cc).Join(ctx, req, opts...)
		})
	}
	return &kvpb.JoinResponse{Header: s.header()}, nil
}

// join adds or updates the member, then records its addresses unless they
// are already replicated.
func (s *Server) join(ctx context.Context, id raftnode.NodeID, raftAddr string, nonvoter bool, metaCmd []byte, grpcAddr string) error {
	add := s.node.AddVoter
	if nonvoter {
		add = s.node.AddNonvoter
	}
	if err := add(ctx, id, raftAddr); err != nil {
		return err
	}
	if meta, ok := s.reader.NodeMeta(string(id)); ok && meta.GRPCAddr == grpcAddr && meta.RaftAddr == raftAddr {
		return nil
	}
	res, err := s.node.Apply(ctx, metaCmd)
	if err != nil {
		return err
	}
	_, err = applyResult(res)
	return err
}
