package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Put sets key to value on the leader. It is applied at most once: if the
// outcome cannot be known the error wraps ErrOutcomeUnknown and the write is
// not retried.
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
	return &PutResponse{Header: headerFrom(resp.GetHeader()), Index: resp.GetIndex()}, nil
}

// Get returns key's value with a linearizable read on the leader. A missing
// key is an error wrapping ErrNotFound.
func (c *Client) Get(ctx context.Context, key string) (*GetResponse, error) {
	req := &kvpb.GetRequest{Key: []byte(key)}
	var resp *kvpb.GetResponse
	err := c.invoke(ctx, "Get", readOp, func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		r, err := kvpb.NewKVClient(cc).Get(ctx, req, opts...)
		resp = r
		return r.GetHeader(), err
	})
	if err != nil {
		return nil, err
	}
	return &GetResponse{Header: headerFrom(resp.GetHeader()), KV: keyValueFrom(resp.GetKv())}, nil
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
	return &DeleteResponse{Header: headerFrom(resp.GetHeader()), Index: resp.GetIndex(), Deleted: resp.GetDeleted()}, nil
}

// listOptions holds the settings of one List call.
type listOptions struct {
	limit int
}

// ListOption configures a List call.
type ListOption func(*listOptions)

// WithLimit caps the number of keys List returns. 0 (the default) means the
// server's maximum (10000); a negative n makes List fail with
// ErrInvalidArgument.
func WithLimit(n int) ListOption {
	return func(o *listOptions) { o.limit = n }
}

// List returns the keys starting with prefix ("" for every key) in ascending
// byte order, with a linearizable read on the leader. ListResponse.More
// reports whether keys beyond the limit matched.
func (c *Client) List(ctx context.Context, prefix string, opts ...ListOption) (*ListResponse, error) {
	var o listOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.limit < 0 {
		return nil, fmt.Errorf("%w: list limit must not be negative, got %d", ErrInvalidArgument, o.limit)
	}
	req := &kvpb.ListRequest{Prefix: []byte(prefix), Limit: int64(o.limit)}
	var resp *kvpb.ListResponse
	err := c.invoke(ctx, "List", readOp, func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		r, err := kvpb.NewKVClient(cc).List(ctx, req, opts...)
		resp = r
		return r.GetHeader(), err
	})
	if err != nil {
		return nil, err
	}
	out := &ListResponse{Header: headerFrom(resp.GetHeader()), More: resp.GetMore()}
	for _, kv := range resp.GetKvs() {
		out.KVs = append(out.KVs, keyValueFrom(kv))
	}
	return out, nil
}
