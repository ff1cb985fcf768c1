package rpc

import (
	"net"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/store"
)

// MaxRequestBytes is the largest request the API accepts, as encoded on the
// wire: room for the largest valid request (a CompareAndSwap with a
// store.MaxKeyBytes key and two store.MaxValueBytes values) plus 64 KiB for
// the rest. Larger requests up to gRPC's receive limit (4 MiB) are refused
// with InvalidArgument; beyond that gRPC itself answers ResourceExhausted
// before any handler runs.
const MaxRequestBytes = 2*store.MaxValueBytes + store.MaxKeyBytes + 64<<10

// validateRequest checks every field limit of an API request, so a bad
// request is refused up front, before it takes an admission slot or
// reaches raft, with InvalidArgument and a message saying what to fix. The
// handlers and the store's command constructors check again (in-process
// callers skip the interceptors), so this is a fast path, not the only
// guard. Errors wrap store.ErrInvalidArgument.
func validateRequest(req any) error {
	if m, ok := req.(proto.Message); ok {
		if n := proto.Size(m); n > MaxRequestBytes {
			return invalidArgument("request is %d bytes; the limit is %d bytes: send smaller keys and values", n, MaxRequestBytes)
		}
	}
	switch r := req.(type) {
	case *kvpb.PutRequest:
		return firstErr(store.ValidateKey(r.GetKey()), store.ValidateValue(r.GetValue()))
	case *kvpb.GetRequest:
		return firstErr(store.ValidateKey(r.GetKey()), validateReadOptions(r.GetRead()))
	case *kvpb.DeleteRequest:
		return store.ValidateKey(r.GetKey())
	case *kvpb.CompareAndSwapRequest:
		if err := store.ValidateKey(r.GetKey()); err != nil {
			return err
		}
		if r.ExpectedValue != nil && len(r.ExpectedValue) > store.MaxValueBytes {
			return invalidArgument("expected_value is %d bytes; the limit is %d bytes", len(r.ExpectedValue), store.MaxValueBytes)
		}
		return store.ValidateValue(r.GetNewValue())
	case *kvpb.ListRequest:
		if err := store.ValidatePrefix(r.GetPrefix()); err != nil {
			return err
		}
		if l := r.GetLimit(); l < 0 || l > store.MaxListLimit {
			return invalidArgument("limit is %d; it must be 0 (server maximum) to %d: page with more=true for the rest", l, store.MaxListLimit)
		}
		return validateReadOptions(r.GetRead())
	case *kvpb.JoinRequest:
		return firstErr(
			validateText("id", r.GetId(), false),
			validateText("raft_addr", r.GetRaftAddr(), true),
			validateText("grpc_addr", r.GetGrpcAddr(), true),
		)
	}
	return nil
}

// validateReadOptions checks the fields of a read's options that need no
// node state (prepareRead checks the rest).
func validateReadOptions(ro *kvpb.ReadOptions) error {
	switch c := ro.GetConsistency(); c {
	case kvpb.Consistency_CONSISTENCY_UNSPECIFIED, kvpb.Consistency_LINEARIZABLE, kvpb.Consistency_STALE:
	case kvpb.Consistency_BOUNDED:
		if ro.GetMaxStalenessMs() <= 0 {
			return invalidArgument("bounded reads need max_staleness_ms > 0; got %d", ro.GetMaxStalenessMs())
		}
	default:
		return invalidArgument("unknown consistency %d; use LINEARIZABLE, STALE or BOUNDED", c)
	}
	return nil
}

// validateText checks a text field of a membership request: present, valid
// UTF-8, at most store.MaxNodeFieldBytes and, for addresses, host:port.
func validateText(name, v string, hostPort bool) error {
	switch {
	case v == "":
		return invalidArgument("%s is empty; it is required", name)
	case len(v) > store.MaxNodeFieldBytes:
		return invalidArgument("%s is %d bytes; the limit is %d bytes", name, len(v), store.MaxNodeFieldBytes)
	case !utf8.ValidString(v):
		return invalidArgument("%s is not valid UTF-8; send text", name)
	}
	if hostPort {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return invalidArgument("%s %q is not host:port: %v", name, v, err)
		}
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
