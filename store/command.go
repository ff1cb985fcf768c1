package store

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// commandFormat is the only Command.format this binary writes and reads. A
// new encoding (compression, say) gets a new number; an old binary that
// meets it halts with ErrCorruptEntry instead of guessing.
const commandFormat = 1

// PutCommand encodes a log entry that sets key to value. It validates the
// key and value first and returns an error wrapping ErrInvalidArgument if
// either is out of bounds.
func PutCommand(key, value []byte) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ValidateValue(value); err != nil {
		return nil, err
	}
	return encodeCommand(&fsmpb.Command{
		Op: &fsmpb.Command_Put{Put: &fsmpb.Put{Key: key, Value: value}},
	})
}

// DeleteCommand encodes a log entry that removes key. It validates the key
// first and returns an error wrapping ErrInvalidArgument if it is out of
// bounds. Deleting a missing key is not an error; Result.Deleted says
// whether the key existed.
func DeleteCommand(key []byte) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	return encodeCommand(&fsmpb.Command{
		Op: &fsmpb.Command_Delete{Delete: &fsmpb.Delete{Key: key}},
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

// encodeCommand stamps the format and marshals cmd.
func encodeCommand(cmd *fsmpb.Command) ([]byte, error) {
	cmd.Format = commandFormat
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	return b, nil
}

// decodeCommand parses a log entry. Every failure wraps ErrCorruptEntry:
// bytes that are not a Command, a format other than commandFormat, or no
// operation this binary knows (a newer binary may have added one; applying
// around it would let replicas diverge).
func decodeCommand(data []byte) (*fsmpb.Command, error) {
	var cmd fsmpb.Command
	if err := proto.Unmarshal(data, &cmd); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrCorruptEntry, err)
	}
	if f := cmd.GetFormat(); f != commandFormat {
		return nil, fmt.Errorf("%w: format %d is unknown; this binary reads format %d", ErrCorruptEntry, f, commandFormat)
	}
	switch cmd.GetOp().(type) {
	case *fsmpb.Command_Put, *fsmpb.Command_Delete, *fsmpb.Command_SetNodeMeta:
		return &cmd, nil
	default:
		return nil, fmt.Errorf("%w: missing or unknown operation (written by a newer version?)", ErrCorruptEntry)
	}
}
