package store

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// Command formats (Command.format). A binary reads every format up to its
// own and halts with ErrCorruptEntry on a newer one instead of guessing.
const (
	// formatBasic is put, delete and set_node_meta with none of the fields
	// added since. Commands that need nothing newer are still written in it,
	// so that a cluster is not forced to upgrade before it can read them.
	formatBasic = 1
	// formatExactlyOnce adds request ids, conditional put and delete, and
	// compare-and-swap. A binary that reads only formatBasic would silently
	// ignore these fields and apply such a command differently from its
	// peers, so the format number stops it instead.
	formatExactlyOnce = 2
	// maxFormat is the newest format this binary reads.
	maxFormat = formatExactlyOnce
)

// RequestID identifies one client request so that Apply performs it once,
// however often it is proposed (see DESIGN.md, "Exactly-once requests").
type RequestID struct {
	// ClientID names the client: 1..MaxClientIDBytes bytes, unique per
	// client instance (random).
	ClientID []byte
	// Seq numbers the client's requests from 1; a retry repeats it.
	Seq uint64
	// MinUnackedSeq is the lowest seq the client may still send again; the
	// store drops results below it and refuses requests below it. 0 means
	// not given. It must not exceed Seq.
	MinUnackedSeq uint64
	// SessionIndex is a raft index at which the client's session existed
	// (the index of an earlier answer), or 0. A request for an unknown
	// session with SessionIndex > 0 is refused with ErrSessionExpired.
	SessionIndex uint64
}

// WriteOption adds an optional part to a write command built by
// PutCommand, DeleteCommand or CompareAndSwapCommand.
type WriteOption func(*writeOptions)

// writeOptions collects the WriteOptions of one command.
type writeOptions struct {
	request  *fsmpb.RequestID
	modIndex *uint64
}

// WithRequestID makes the command exactly-once: Apply remembers its result
// under id and answers a repeat of id with it (Result.Duplicate) instead of
// applying the operation again.
func WithRequestID(id RequestID) WriteOption {
	return func(o *writeOptions) {
		o.request = &fsmpb.RequestID{
			ClientId:      id.ClientID,
			Seq:           id.Seq,
			MinUnackedSeq: id.MinUnackedSeq,
			SessionIndex:  id.SessionIndex,
		}
	}
}

// IfModIndex makes a Put or Delete conditional on the key's ModIndex: it is
// applied only if the key's ModIndex equals modIndex, or, for 0, only if
// the key does not exist. Otherwise nothing is written and the Result has
// ConditionFailed set. CompareAndSwapCommand refuses it.
func IfModIndex(modIndex uint64) WriteOption {
	return func(o *writeOptions) { o.modIndex = &modIndex }
}

// collect applies opts and validates the request id, if any.
func collect(opts []WriteOption) (writeOptions, error) {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.request != nil {
		if err := validateRequestID(o.request); err != nil {
			return o, err
		}
	}
	return o, nil
}

// PutCommand encodes a log entry that sets key to value. It validates the
// key, the value and any request id first and returns an error wrapping
// ErrInvalidArgument if one is out of bounds. opts may make it exactly-once
// (WithRequestID) or conditional (IfModIndex).
func PutCommand(key, value []byte, opts ...WriteOption) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ValidateValue(value); err != nil {
		return nil, err
	}
	o, err := collect(opts)
	if err != nil {
		return nil, err
	}
	return encodeCommand(&fsmpb.Command{
		Op:        &fsmpb.Command_Put{Put: &fsmpb.Put{Key: key, Value: value, ExpectedModIndex: o.modIndex}},
		RequestId: o.request,
	})
}

// DeleteCommand encodes a log entry that removes key. It validates the key
// and any request id first and returns an error wrapping
// ErrInvalidArgument if one is out of bounds. Deleting a missing key is not
// an error; Result.Deleted says whether the key existed. opts may make it
// exactly-once (WithRequestID) or conditional (IfModIndex).
func DeleteCommand(key []byte, opts ...WriteOption) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	o, err := collect(opts)
	if err != nil {
		return nil, err
	}
	return encodeCommand(&fsmpb.Command{
		Op:        &fsmpb.Command_Delete{Delete: &fsmpb.Delete{Key: key, ExpectedModIndex: o.modIndex}},
		RequestId: o.request,
	})
}

// CompareAndSwapCommand encodes a log entry that sets key to value if the
// key's current value equals expected, or, when expected is nil, if the key
// does not exist (a non-nil empty expected matches an existing empty
// value). A mismatch is not an error: the Result has ConditionFailed set
// and the key's current state. It validates its input first; errors wrap
// ErrInvalidArgument. opts may make it exactly-once (WithRequestID);
// IfModIndex is refused.
func CompareAndSwapCommand(key, expected, value []byte, opts ...WriteOption) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ValidateValue(value); err != nil {
		return nil, err
	}
	if err := ValidateValue(expected); err != nil {
		return nil, fmt.Errorf("expected %w", err)
	}
	o, err := collect(opts)
	if err != nil {
		return nil, err
	}
	if o.modIndex != nil {
		return nil, fmt.Errorf("%w: compare-and-swap compares values; it takes no mod index condition", ErrInvalidArgument)
	}
	return encodeCommand(&fsmpb.Command{
		Op: &fsmpb.Command_CompareAndSwap{CompareAndSwap: &fsmpb.CompareAndSwap{
			Key: key, ExpectedValue: expected, NewValue: value,
		}},
		RequestId: o.request,
	})
}

// SetNodeMetaCommand encodes a log entry that records the addresses of node
// nodeID, replacing any earlier record. nodeID must be non-empty; every
// field must be valid UTF-8 and at most 1024 bytes. A bad field gives an
// error wrapping ErrInvalidArgument.
func SetNodeMetaCommand(nodeID, grpcAddr, raftAddr string) ([]byte, error) {
	if err := validateNodeMeta(nodeID, grpcAddr, raftAddr); err != nil {
		return nil, err
	}
	return encodeCommand(&fsmpb.Command{
		Op: &fsmpb.Command_SetNodeMeta{SetNodeMeta: &fsmpb.SetNodeMeta{
			NodeId:   nodeID,
			GrpcAddr: grpcAddr,
			RaftAddr: raftAddr,
		}},
	})
}

// encodeCommand stamps the oldest format that can express cmd and
// marshals it.
func encodeCommand(cmd *fsmpb.Command) ([]byte, error) {
	cmd.Format = formatBasic
	if needsExactlyOnceFormat(cmd) {
		cmd.Format = formatExactlyOnce
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	return b, nil
}

// needsExactlyOnceFormat reports whether cmd uses anything added in
// formatExactlyOnce.
func needsExactlyOnceFormat(cmd *fsmpb.Command) bool {
	if cmd.GetRequestId() != nil {
		return true
	}
	switch op := cmd.GetOp().(type) {
	case *fsmpb.Command_CompareAndSwap:
		return true
	case *fsmpb.Command_Put:
		return op.Put.ExpectedModIndex != nil
	case *fsmpb.Command_Delete:
		return op.Delete.ExpectedModIndex != nil
	}
	return false
}

// decodeCommand parses a log entry. Every failure wraps ErrCorruptEntry:
// bytes that are not a Command, a format this binary does not read, no
// operation this binary knows (a newer binary may have added one; applying
// around it would let replicas diverge), or a formatBasic entry that uses
// fields of a later format (no binary writes that).
func decodeCommand(data []byte) (*fsmpb.Command, error) {
	var cmd fsmpb.Command
	if err := proto.Unmarshal(data, &cmd); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrCorruptEntry, err)
	}
	f := cmd.GetFormat()
	if f < formatBasic || f > maxFormat {
		return nil, fmt.Errorf("%w: format %d is unknown; this binary reads formats %d to %d", ErrCorruptEntry, f, formatBasic, maxFormat)
	}
	switch cmd.GetOp().(type) {
	case *fsmpb.Command_Put, *fsmpb.Command_Delete, *fsmpb.Command_SetNodeMeta, *fsmpb.Command_CompareAndSwap:
	default:
		return nil, fmt.Errorf("%w: missing or unknown operation (written by a newer version?)", ErrCorruptEntry)
	}
	if f == formatBasic && needsExactlyOnceFormat(&cmd) {
		return nil, fmt.Errorf("%w: format %d entry uses fields of format %d", ErrCorruptEntry, formatBasic, formatExactlyOnce)
	}
	return &cmd, nil
}
