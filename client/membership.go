package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Membership changes. Each is sent to the leader and retried across leader
// changes like a linearizable read: adding, promoting and removing are
// idempotent on the server, so a retry after an attempt whose answer was
// lost changes nothing more, with one visible difference: a RemoveMember
// whose first attempt was applied may report ErrUnknownMember on the retry.
// Errors: ErrInvalidArgument for a malformed request, ErrUnknownMember for
// an id not in the configuration, ErrMembershipRefused for a change the
// configuration forbids; nothing was changed in those cases.

// AddMember adds the node id, reachable by its peers at raftAddr and by
// clients at grpcAddr, to the cluster: as a voter, or as a non-voting read
// replica when nonvoter is set. Adding a member again with the same
// addresses is a no-op; changed addresses are updated. A voter is never
// demoted: adding an existing voter as a non-voter is ErrMembershipRefused.
// The node itself must be running (kvd without --bootstrap); usually it
// joins by itself with --join, and AddMember is for operators.
func (c *Client) AddMember(ctx context.Context, id, raftAddr, grpcAddr string, nonvoter bool) error {
	req := &kvpb.JoinRequest{Id: id, RaftAddr: raftAddr, GrpcAddr: grpcAddr, Nonvoter: nonvoter}
	return c.invoke(ctx, "Join", readOp, nil, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		r, err := kvpb.NewClusterClient(cc).Join(ctx, req, opts...)
		return r.GetHeader(), err
	})
}

// RemoveMember removes the node id from the cluster's configuration. The
// removed node stops taking part in consensus. Removing the last voter is
// ErrMembershipRefused.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	req := &kvpb.RemoveMemberRequest{Id: id}
	err := c.invoke(ctx, "RemoveMember", readOp, nil, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		r, err := kvpb.NewClusterClient(cc).RemoveMember(ctx, req, opts...)
		return r.GetHeader(), err
	})
	if err == nil {
		c.kickRefresh() // stop sending reads to it soon
	}
	return err
}

// PromoteMember makes the non-voter id a voter. Promoting a voter is a
// no-op.
func (c *Client) PromoteMember(ctx context.Context, id string) error {
	req := &kvpb.PromoteMemberRequest{Id: id}
	return c.invoke(ctx, "PromoteMember", readOp, nil, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		r, err := kvpb.NewClusterClient(cc).PromoteMember(ctx, req, opts...)
		return r.GetHeader(), err
	})
}

// TransferLeadership asks the leader to hand leadership to the voter toID,
// or with toID empty to the most up-to-date voter, and returns once the
// transfer has finished. With toID set it is idempotent (toID already
// leading is a no-op); without, a retry after a lost answer may move
// leadership once more. A non-voter toID is ErrMembershipRefused.
func (c *Client) TransferLeadership(ctx context.Context, toID string) error {
	req := &kvpb.TransferLeadershipRequest{ToId: toID}
	err := c.invoke(ctx, "TransferLeadership", readOp, nil, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		r, err := kvpb.NewClusterClient(cc).TransferLeadership(ctx, req, opts...)
		return r.GetHeader(), err
	})
	if err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	// A stale belief about the leader costs one NOT_LEADER redirect.
	return nil
}
