package store

import (
	"fmt"
	"unicode/utf8"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// Limits on what the store accepts. They are checked by the command
// constructors on the leader before proposing, and again by Apply.
const (
	// MaxKeyBytes is the largest key: a key is 1..MaxKeyBytes bytes.
	MaxKeyBytes = 4096
	// MaxValueBytes is the largest value: a value is 0..MaxValueBytes bytes.
	MaxValueBytes = 1 << 20
	// MaxListLimit is the most keys one List call returns.
	MaxListLimit = 10000
	// MaxClientIDBytes is the longest client id of a RequestID.
	MaxClientIDBytes = 64
)

// MaxNodeFieldBytes bounds a node id and each node address. Addresses are
// host:port strings, so this is generous; it keeps a node id well inside
// bbolt's key limit.
const MaxNodeFieldBytes = 1024

// ValidateKey reports whether key is a legal key: 1..MaxKeyBytes bytes. A
// bad key gives an error wrapping ErrInvalidArgument that names the limit.
func ValidateKey(key []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w: key is empty; a key is 1 to %d bytes", ErrInvalidArgument, MaxKeyBytes)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: key is %d bytes; the limit is %d bytes", ErrInvalidArgument, len(key), MaxKeyBytes)
	}
	return nil
}

// ValidateValue reports whether value is a legal value: at most
// MaxValueBytes bytes (empty is fine). A bad value gives an error wrapping
// ErrInvalidArgument that names the limit.
func ValidateValue(value []byte) error {
	if len(value) > MaxValueBytes {
		return fmt.Errorf("%w: value is %d bytes; the limit is %d bytes", ErrInvalidArgument, len(value), MaxValueBytes)
	}
	return nil
}

// ValidatePrefix reports whether prefix is a legal List prefix: at most
// MaxKeyBytes bytes (empty means every key). A bad prefix gives an error
// wrapping ErrInvalidArgument that names the limit.
func ValidatePrefix(prefix []byte) error {
	if len(prefix) > MaxKeyBytes {
		return fmt.Errorf("%w: prefix is %d bytes; the limit is %d bytes", ErrInvalidArgument, len(prefix), MaxKeyBytes)
	}
	return nil
}

// validateNodeMeta checks the fields of a SetNodeMeta command: a non-empty
// node id, every field valid UTF-8 (protobuf strings must be) and at most
// MaxNodeFieldBytes long.
func validateNodeMeta(nodeID, grpcAddr, raftAddr string) error {
	if nodeID == "" {
		return fmt.Errorf("%w: node id is empty", ErrInvalidArgument)
	}
	for _, f := range []struct{ name, v string }{
		{"node id", nodeID},
		{"grpc address", grpcAddr},
		{"raft address", raftAddr},
	} {
		if len(f.v) > MaxNodeFieldBytes {
			return fmt.Errorf("%w: %s is %d bytes; the limit is %d bytes", ErrInvalidArgument, f.name, len(f.v), MaxNodeFieldBytes)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidArgument, f.name)
		}
	}
	return nil
}

// validateRequestID reports whether id is a legal request id: a client id
// of 1..MaxClientIDBytes bytes, a seq of at least 1 and a min_unacked_seq
// not above it. A bad id gives an error wrapping ErrInvalidArgument.
func validateRequestID(id *fsmpb.RequestID) error {
	switch n := len(id.GetClientId()); {
	case n == 0:
		return fmt.Errorf("%w: request id: client id is empty; it is 1 to %d bytes", ErrInvalidArgument, MaxClientIDBytes)
	case n > MaxClientIDBytes:
		return fmt.Errorf("%w: request id: client id is %d bytes; the limit is %d bytes", ErrInvalidArgument, n, MaxClientIDBytes)
	}
	if id.GetSeq() == 0 {
		return fmt.Errorf("%w: request id: seq is 0; sequence numbers start at 1", ErrInvalidArgument)
	}
	if id.GetMinUnackedSeq() > id.GetSeq() {
		return fmt.Errorf("%w: request id: min_unacked_seq %d is above seq %d", ErrInvalidArgument, id.GetMinUnackedSeq(), id.GetSeq())
	}
	return nil
}
