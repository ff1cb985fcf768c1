package client

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Members returns every server in the cluster's raft configuration, as seen
// by the leader if the client knows it, otherwise by any reachable member.
// It also refreshes the client's list of members to fail over to.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var resp *kvpb.MembersResponse
	err := c.invoke(ctx, "Members", anyOp, nil, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		r, err := kvpb.NewClusterClient(cc).Members(ctx, &kvpb.MembersRequest{}, opts...)
		resp = r
		return r.GetHeader(), err
	})
	if err != nil {
		return nil, err
	}
	c.learn(resp.GetMembers())
	out := make([]Member, 0, len(resp.GetMembers()))
	for _, m := range resp.GetMembers() {
		out = append(out, memberFrom(m))
	}
	return out, nil
}

// Status asks exactly the node at endpoint (a client gRPC address) for its
// own raft state. It is neither forwarded nor retried elsewhere, so it can
// be used to inspect each member in turn.
func (c *Client) Status(ctx context.Context, endpoint string) (*Status, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := c.budget(ctx)
	defer cancel()
	cc, err := c.conn(endpoint)
	if err != nil {
		return nil, err
	}
	var p peer.Peer
	resp, err := kvpb.NewClusterClient(cc).Status(ctx, &kvpb.StatusRequest{}, grpc.Peer(&p))
	if err != nil {
		if c.isClosed() {
			return nil, ErrClosed
		}
		return nil, classify(endpoint, err).toError(false, p.Addr != nil)
	}
	c.observe(resp.GetHeader())
	return statusFrom(resp), nil
}
