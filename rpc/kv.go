package rpc

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/store"
)

// maxListResponseBytes keeps a List response under gRPC's default 4 MiB
// receive limit: keys and values past it are left for the next page
// (more=true). The first key is always returned, so paging makes progress.
const maxListResponseBytes = 3 << 20

// Put implements kvpb.KVServer. With a request id the write is
// exactly-once; with expected_mod_index it is conditional, and a condition
// that does not hold is answered with succeeded=false, not an error.
func (s *Server) Put(ctx context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	cmd, err := store.PutCommand(req.GetKey(), req.GetValue(), writeOptions(req.GetRequestId(), req.ExpectedModIndex)...)
	if err != nil {
		return nil, err
	}
	return applyWrite(ctx, s, cmd,
		func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.PutResponse, error) {
			return kvpb.NewKVClient(cc).Put(ctx, req, opts...)
		},
		func(w written) *kvpb.PutResponse {
			return &kvpb.PutResponse{Header: w.header, Index: w.index, Succeeded: w.succeeded, Current: w.current, CurrentValueOmitted: w.omitted}
		})
}

// Delete implements kvpb.KVServer, with the same request id and condition
// rules as Put.
func (s *Server) Delete(ctx context.Context, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	cmd, err := store.DeleteCommand(req.GetKey(), writeOptions(req.GetRequestId(), req.ExpectedModIndex)...)
	if err != nil {
		return nil, err
	}
	return applyWrite(ctx, s, cmd,
		func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.DeleteResponse, error) {
			return kvpb.NewKVClient(cc).Delete(ctx, req, opts...)
		},
		func(w written) *kvpb.DeleteResponse {
			return &kvpb.DeleteResponse{Header: w.header, Index: w.index, Deleted: w.deleted, Succeeded: w.succeeded, Current: w.current, CurrentValueOmitted: w.omitted}
		})
}

// CompareAndSwap implements kvpb.KVServer. The comparison is made by the
// state machine, in log order, so it is atomic with the write; a mismatch
// is succeeded=false with the key's current state, not an error.
func (s *Server) CompareAndSwap(ctx context.Context, req *kvpb.CompareAndSwapRequest) (*kvpb.CompareAndSwapResponse, error) {
	cmd, err := store.CompareAndSwapCommand(req.GetKey(), req.ExpectedValue, req.GetNewValue(), writeOptions(req.GetRequestId(), nil)...)
	if err != nil {
		return nil, err
	}
	return applyWrite(ctx, s, cmd,
		func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.CompareAndSwapResponse, error) {
			return kvpb.NewKVClient(cc).CompareAndSwap(ctx, req, opts...)
		},
		func(w written) *kvpb.CompareAndSwapResponse {
			return &kvpb.CompareAndSwapResponse{Header: w.header, Index: w.index, Succeeded: w.succeeded, Current: w.current, CurrentValueOmitted: w.omitted}
		})
}

// written is what every write response reports about an applied command.
type written struct {
	header    *kvpb.ResponseHeader
	index     uint64
	deleted   bool
	succeeded bool
	current   *kvpb.KeyValue
	omitted   bool
}

// applyWrite is the one write path: propose cmd, forward to the leader when
// this node does not lead, and turn the state machine's result into a
// response with build.
func applyWrite[T any](ctx context.Context, s *Server, cmd []byte, forward forwardCall[T], build func(written) T) (T, error) {
	res, err := s.node.Apply(ctx, cmd)
	if err != nil {
		return forwardOr(ctx, s, err, true, forward)
	}
	r, err := applyResult(res)
	if err != nil {
		var zero T
		return zero, err
	}
	return build(written{
		header:    s.header(),
		index:     r.WriteIndex(),
		deleted:   r.Deleted,
		succeeded: !r.ConditionFailed,
		current:   currentKV(r),
		omitted:   r.CurrentValueOmitted,
	}), nil
}

// writeOptions turns a request's id and mod-index condition (nil: none)
// into store command options.
func writeOptions(id *kvpb.RequestID, modIndex *uint64) []store.WriteOption {
	var opts []store.WriteOption
	if id != nil {
		opts = append(opts, store.WithRequestID(store.RequestID{
			ClientID:      id.GetClientId(),
			Seq:           id.GetSeq(),
			MinUnackedSeq: id.GetMinUnackedSeq(),
			SessionIndex:  id.GetSessionIndex(),
		}))
	}
	if modIndex != nil {
		opts = append(opts, store.IfModIndex(*modIndex))
	}
	return opts
}

// currentKV is the key state a failed condition reports, or nil.
func currentKV(r store.Result) *kvpb.KeyValue {
	if r.Current == nil {
		return nil
	}
	return toProtoKV(*r.Current)
}

// Get implements kvpb.KVServer at the consistency the request asks for
// (prepareRead). A linearizable read confirms this node still leads and has
// applied everything committed before the read started, or is forwarded to
// the leader; stale and bounded reads are answered from local bbolt.
func (s *Server) Get(ctx context.Context, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	if err := store.ValidateKey(req.GetKey()); err != nil {
		return nil, err
	}
	level, err := s.prepareRead(ctx, req.GetRead())
	if err != nil {
		return forwardOr(ctx, s, err, false, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.GetResponse, error) {
			return kvpb.NewKVClient(cc).Get(ctx, req, opts...)
		})
	}
	kv, readIndex, err := s.reader.GetAt(req.GetKey())
	if err != nil {
		return nil, err
	}
	return &kvpb.GetResponse{Header: s.readHeader(level, readIndex), Kv: toProtoKV(kv)}, nil
}

// List implements kvpb.KVServer with the same consistency rules as Get.
func (s *Server) List(ctx context.Context, req *kvpb.ListRequest) (*kvpb.ListResponse, error) {
	if err := validateRequest(req); err != nil {
		return nil, err
	}
	level, err := s.prepareRead(ctx, req.GetRead())
	if err != nil {
		return forwardOr(ctx, s, err, false, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ListResponse, error) {
			return kvpb.NewKVClient(cc).List(ctx, req, opts...)
		})
	}
	limit := int(min(req.GetLimit(), int64(store.MaxListLimit)))
	kvs, more, readIndex, err := s.reader.ListAt(req.GetPrefix(), limit)
	if err != nil {
		return nil, err
	}
	out := make([]*kvpb.KeyValue, 0, len(kvs))
	size := 0
	for i, kv := range kvs {
		size += len(kv.Key) + len(kv.Value)
		if i > 0 && size > maxListResponseBytes {
			more = true
			break
		}
		out = append(out, toProtoKV(kv))
	}
	return &kvpb.ListResponse{Header: s.readHeader(level, readIndex), Kvs: out, More: more}, nil
}

func toProtoKV(kv store.KeyValue) *kvpb.KeyValue {
	return &kvpb.KeyValue{Key: kv.Key, Value: kv.Value, CreateIndex: kv.CreateIndex, ModIndex: kv.ModIndex}
}

// invalidArgument builds an InvalidArgument error whose message says what to fix.
func invalidArgument(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{store.ErrInvalidArgument}, args...)...)
}
