package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Put sets key to value on the leader. It is applied exactly once: the
// write carries a request id, so when the leader fails while committing it
// the client sends it again to the new leader, within ctx, and the cluster
// applies it only once. If ctx ends while the outcome is still unknown the
// error wraps ErrOutcomeUnknown. When the cluster has lost its quorum it
// fails promptly with ErrNoQuorum.
func (c *Client) Put(ctx context.Context, key string, value []byte) (*PutResponse, error) {
	return c.put(ctx, "Put", key, value, nil)
}

// put is Put, or PutIf when modIndex is not nil.
func (c *Client) put(ctx context.Context, method, key string, value []byte, modIndex *uint64) (*PutResponse, error) {
	req := &kvpb.PutRequest{Key: []byte(key), Value: value, ExpectedModIndex: modIndex}
	var resp *kvpb.PutResponse
	err := c.write(ctx, method, func(ctx context.Context, kv kvpb.KVClient, id *kvpb.RequestID, opts ...grpc.CallOption) (*kvpb.ResponseHeader, uint64, error) {
		req.RequestId = id
		r, err := kv.Put(ctx, req, opts...)
		resp = r
		return r.GetHeader(), r.GetIndex(), err
	})
	if err != nil {
		return nil, err
	}
	// An unconditional put cannot fail its condition.
	return putResponseFrom(resp, modIndex == nil || resp.GetSucceeded()), nil
}

// writeAnswer is what the Put and CompareAndSwap responses share.
type writeAnswer interface {
	GetHeader() *kvpb.ResponseHeader
	GetIndex() uint64
	GetCurrent() *kvpb.KeyValue
	GetCurrentValueOmitted() bool
}

// putResponseFrom converts a Put or CompareAndSwap response; succeeded is
// whether its condition held.
func putResponseFrom(r writeAnswer, succeeded bool) *PutResponse {
	return &PutResponse{
		Header:              headerFrom(r.GetHeader()),
		Index:               r.GetIndex(),
		Succeeded:           succeeded,
		Current:             currentFrom(r.GetCurrent(), r.GetCurrentValueOmitted()),
		CurrentValueOmitted: r.GetCurrentValueOmitted(),
	}
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
		return func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
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
// Deleted false. Like Put it is applied exactly once.
func (c *Client) Delete(ctx context.Context, key string) (*DeleteResponse, error) {
	return c.del(ctx, "Delete", key, nil)
}

// del is Delete, or DeleteIf when modIndex is not nil.
func (c *Client) del(ctx context.Context, method, key string, modIndex *uint64) (*DeleteResponse, error) {
	req := &kvpb.DeleteRequest{Key: []byte(key), ExpectedModIndex: modIndex}
	var resp *kvpb.DeleteResponse
	err := c.write(ctx, method, func(ctx context.Context, kv kvpb.KVClient, id *kvpb.RequestID, opts ...grpc.CallOption) (*kvpb.ResponseHeader, uint64, error) {
		req.RequestId = id
		r, err := kv.Delete(ctx, req, opts...)
		resp = r
		return r.GetHeader(), r.GetIndex(), err
	})
	if err != nil {
		return nil, err
	}
	return &DeleteResponse{
		Header:              headerFrom(resp.GetHeader()),
		Index:               resp.GetIndex(),
		Deleted:             resp.GetDeleted(),
		Succeeded:           modIndex == nil || resp.GetSucceeded(),
		Current:             currentFrom(resp.GetCurrent(), resp.GetCurrentValueOmitted()),
		CurrentValueOmitted: resp.GetCurrentValueOmitted(),
	}, nil
}

// writeCall sends one attempt of a write with request id id and returns
// the response header and raft index.
type writeCall func(ctx context.Context, kv kvpb.KVClient, id *kvpb.RequestID, opts ...grpc.CallOption) (*kvpb.ResponseHeader, uint64, error)

// write runs one exactly-once write: every attempt of call carries the
// same request id (see invoke for the retry rules). On success it records
// the answer's index for the session and for read-your-writes.
func (c *Client) write(ctx context.Context, method string, call writeCall) error {
	w, err := c.newWriteID(ctx)
	if err != nil {
		return err
	}
	defer w.finish()
	var index uint64
	err = c.invoke(ctx, method, writeOp, w, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		h, idx, err := call(ctx, kvpb.NewKVClient(cc), w.proto(), opts...)
		index = idx
		return h, err
	})
	if err != nil {
		return err
	}
	w.answered(index)
	c.noteIndex(index)
	return nil
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
		return func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
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
