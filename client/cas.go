package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// CompareAndSwap sets key to newValue if its current value equals oldValue,
// and reports whether it did. A nil oldValue means the key must not exist
// (so CompareAndSwap creates it); a non-nil empty oldValue matches an
// existing empty value. A mismatch is not an error: swapped is false.
//
// The comparison and the write happen atomically in the replicated state
// machine, in log order. Like Put the call is exactly-once: a swap retried
// after a failover is applied at most once and answered with its original
// outcome. A typical loop reads the key with Get, computes the new value
// and calls CompareAndSwap with the value it read, until swapped.
func (c *Client) CompareAndSwap(ctx context.Context, key string, oldValue, newValue []byte) (swapped bool, err error) {
	resp, err := c.CompareAndSwapResult(ctx, key, oldValue, newValue)
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// CompareAndSwapResult is CompareAndSwap returning the whole answer: after
// a swap, Index is the raft index it committed at (the key's new ModIndex,
// usable with PutIf); without one, Succeeded is false and Current holds the
// key's state that failed the comparison (nil when the key does not exist).
func (c *Client) CompareAndSwapResult(ctx context.Context, key string, oldValue, newValue []byte) (*PutResponse, error) {
	req := &kvpb.CompareAndSwapRequest{Key: []byte(key), ExpectedValue: oldValue, NewValue: newValue}
	var resp *kvpb.CompareAndSwapResponse
	err := c.write(ctx, "CompareAndSwap", func(ctx context.Context, kv kvpb.KVClient, id *kvpb.RequestID, opts ...grpc.CallOption) (*kvpb.ResponseHeader, uint64, error) {
		req.RequestId = id
		r, err := kv.CompareAndSwap(ctx, req, opts...)
		resp = r
		return r.GetHeader(), r.GetIndex(), err
	})
	if err != nil {
		return nil, err
	}
	return putResponseFrom(resp, resp.GetSucceeded()), nil
}

// PutIf sets key to value only if the key's ModIndex equals modIndex, or,
// when modIndex is 0, only if the key does not exist (Consul's ?cas=). The
// ModIndex comes from a read (KeyValue.ModIndex) or from the Index of an
// earlier successful write. A condition that does not hold is not an
// error: PutResponse.Succeeded is false and Current holds the key's state
// (nil when the key does not exist). Like Put it is exactly-once.
func (c *Client) PutIf(ctx context.Context, key string, value []byte, modIndex uint64) (*PutResponse, error) {
	return c.put(ctx, "PutIf", key, value, &modIndex)
}

// DeleteIf deletes key only if its ModIndex equals modIndex (with 0 it
// deletes nothing and succeeds only if the key does not exist). A
// condition that does not hold is not an error: DeleteResponse.Succeeded
// is false and Current holds the key's state. Like Delete it is
// exactly-once.
func (c *Client) DeleteIf(ctx context.Context, key string, modIndex uint64) (*DeleteResponse, error) {
	return c.del(ctx, "DeleteIf", key, &modIndex)
}
