package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Put sets key to value on the leader. It is applied at most once: if the
// outcome cannot be known the error wraps ErrOutcomeUnknown and the write is
// not retried. When the cluster has lost its quorum it fails promptly with
// ErrNoQuorum.
func (c *Client) Put(ctx context.Context, key string, value []byte) (*PutResponse, error) {
	req := &kvpb.PutRequest{Key: []byte(key), Value: value}
	var resp *kvpb.PutResponse
	err := c.invoke(ctx, "Put", writeOp, func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		r, err := kvpb.NewKVClient(cc).Put(ctx, req, opts...)
		resp = r
		return r.GetHeader(), err
	})
	if err != nil {
		return nil, err
	}
	c.noteIndex(resp.GetIndex())
	return &PutResponse{Header: headerFrom(resp.GetHeader()), Index: resp.GetIndex()}, nil
}

// Get returns key's value. A missing key is an error wrapping ErrNotFound.
//
// By default the read is linearizable, served by the leader; opts choose
// another consistency (WithConsistency, WithMaxStaleness), turn
// read-your-writes off (WithoutReadYourWrites), or allow a stale answer when
// the cluster has lost its quorum (WithDegradedReads). WithLimit is ignored.
// GetResponse.Header says which node answered, at which consistency, and
// whether it was degraded.
func (c *Client) Get(ctx context.Context, key string, opts ...ReadOption) (*GetResponse, error) {
	o, err := c.readOpts(opts)
	if err != nil {
		return nil, err
	}
	var resp *kvpb.GetResponse
	h, err := c.read(ctx, "Get", o, func(ro *kvpb.ReadOptions) attemptFunc {
		req := &kvpb.GetRequest{Key: []byte(key), Read: ro}
		return func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
			r, err := kvpb.NewKVClient(cc).Get(ctx, req, opts...)
			resp = r
			return r.GetHeader(), err
		}
	})
	if err != nil {
		return nil, err
	}
	return &GetResponse{Header: h, KV: keyValueFrom(resp.GetKv())}, nil
}

// Delete removes key on the leader. Deleting a missing key succeeds with
// Deleted false. Like Put it is applied at most once.
func (c *Client) Delete(ctx context.Context, key string) (*DeleteResponse, error) {
	req := &kvpb.DeleteRequest{Key: []byte(key)}
	var resp *kvpb.DeleteResponse
	err := c.invoke(ctx, "Delete", writeOp, func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		r, err := kvpb.NewKVClient(cc).Delete(ctx, req, opts...)
		resp = r
		return r.GetHeader(), err
	})
	if err != nil {
		return nil, err
	}
	c.noteIndex(resp.GetIndex())
	return &DeleteResponse{Header: headerFrom(resp.GetHeader()), Index: resp.GetIndex(), Deleted: resp.GetDeleted()}, nil
}

// List returns the keys starting with prefix ("" for every key) in ascending
// byte order. ListResponse.More reports whether keys beyond the limit
// matched. It takes the same options as Get, plus WithLimit; by default the
// read is linearizable and returns up to the server's maximum (10000) keys.
func (c *Client) List(ctx context.Context, prefix string, opts ...ReadOption) (*ListResponse, error) {
	o, err := c.readOpts(opts)
	if err != nil {
		return nil, err
	}
	if o.limit < 0 {
		return nil, fmt.Errorf("%w: list limit must not be negative, got %d", ErrInvalidArgument, o.limit)
	}
	var resp *kvpb.ListResponse
	h, err := c.read(ctx, "List", o, func(ro *kvpb.ReadOptions) attemptFunc {
		req := &kvpb.ListRequest{Prefix: []byte(prefix), Limit: int64(o.limit), Read: ro}
		return func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
			r, err := kvpb.NewKVClient(cc).List(ctx, req, opts...)
			resp = r
			return r.GetHeader(), err
		}
	})
	if err != nil {
		return nil, err
	}
	out := &ListResponse{Header: h, More: resp.GetMore()}
	for _, kv := range resp.GetKvs() {
		out.KVs = append(out.KVs, keyValueFrom(kv))
	}
	return out, nil
}
