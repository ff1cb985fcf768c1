package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// KeyValue is one stored key as returned by Get and List. Its slices are
// the caller's own copies.
type KeyValue struct {
	// Key is the key's bytes.
	Key []byte
	// Value is the stored value; empty (never nil) for an empty value.
	Value []byte
	// CreateIndex is the raft index of the Put that created the key.
	CreateIndex uint64
	// ModIndex is the raft index of the last Put to the key.
	ModIndex uint64
}

// NodeMeta is the replicated address record of one node, written by a
// SetNodeMeta command.
type NodeMeta struct {
	// GRPCAddr is the node's client-facing gRPC address.
	GRPCAddr string
	// RaftAddr is the node's raft transport address.
	RaftAddr string
}

// Get returns the value of key, or ErrNotFound. An invalid key gives an
// error wrapping ErrInvalidArgument. The read is local: freshness is the
// caller's concern.
func (s *Store) Get(key []byte) (KeyValue, error) {
	kv, _, err := s.GetAt(key)
	return kv, err
}

// GetAt is Get that also returns the applied index of the state it read,
// taken in the same read transaction as the value. A response that reports
// an applied index next to data must use this one: the store's counter read
// before or after the transaction can be one write off either way.
func (s *Store) GetAt(key []byte) (kv KeyValue, index uint64, err error) {
	if err := ValidateKey(key); err != nil {
		return KeyValue{}, 0, err
	}
	index, err = s.viewState(func(st stateView) error {
		v := st.get(key)
		if v == nil {
			return ErrNotFound
		}
		kv, err = decodeKeyValue(key, v)
		return err
	})
	if err != nil {
		return KeyValue{}, index, err
	}
	return kv, index, nil
}

// List returns the keys that start with prefix, in ascending byte order,
// at most limit of them. limit <= 0 or > MaxListLimit means MaxListLimit.
// more is true when further keys matched beyond the ones returned. An empty
// prefix matches every key; a prefix over MaxKeyBytes gives an error
// wrapping ErrInvalidArgument. The whole result comes from one read
// transaction, so it is a consistent view.
func (s *Store) List(prefix []byte, limit int) (kvs []KeyValue, more bool, err error) {
	kvs, more, _, err = s.ListAt(prefix, limit)
	return kvs, more, err
}

// ListAt is List that also returns the applied index of the state it read,
// from the same read transaction (see GetAt).
func (s *Store) ListAt(prefix []byte, limit int) (kvs []KeyValue, more bool, index uint64, err error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, false, 0, err
	}
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	index, err = s.viewState(func(st stateView) error {
		return st.scan(prefix, func(k, v []byte) (bool, error) {
			if len(kvs) == limit {
				more = true
				return false, nil
			}
			kv, err := decodeKeyValue(k, v)
			if err != nil {
				return false, err
			}
			kvs = append(kvs, kv)
			return true, nil
		})
	})
	if err != nil {
		return nil, false, 0, err
	}
	return kvs, more, index, nil
}

// decodeKeyValue turns a data-bucket entry into a KeyValue that owns its
// memory. bbolt's slices are only valid inside the transaction: the key and
// the value are copied. It decodes the fsmpb.StoredValue wire format
// directly (fields 1, 2 and 3; others are skipped, as proto.Unmarshal
// would keep them unknown): every read decodes one, and proto.Unmarshal's
// reflection cost 10% of a node's CPU under a read load.
// TestDecodeKeyValue_MatchesProto holds it to proto.Unmarshal's answers.
func decodeKeyValue(k, v []byte) (KeyValue, error) {
	kv := KeyValue{Key: bytes.Clone(k), Value: []byte{}}
	for b := v; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return KeyValue{}, decodeErr(k, protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return KeyValue{}, decodeErr(k, fmt.Errorf("field number %d out of range", num))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			val, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return KeyValue{}, decodeErr(k, protowire.ParseError(n))
			}
			kv.Value = append(kv.Value[:0], val...) // the last occurrence wins, as in proto
			b = b[n:]
		case (num == 2 || num == 3) && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return KeyValue{}, decodeErr(k, protowire.ParseError(n))
			}
			if num == 2 {
				kv.CreateIndex = x
			} else {
				kv.ModIndex = x
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return KeyValue{}, decodeErr(k, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return kv, nil
}

// decodeErr is decodeKeyValue's error for a damaged stored value.
func decodeErr(k []byte, err error) error {
	return fmt.Errorf("decode stored value of a %d-byte key: %w", len(k), err)
}

// NodeMeta returns the recorded addresses of node id. ok is false when no
// record exists or the store cannot be read (closed, or a damaged record,
// which is logged).
func (s *Store) NodeMeta(id string) (meta NodeMeta, ok bool) {
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketNodes).Get([]byte(id))
		if v == nil {
			return nil
		}
		var err error
		meta, err = decodeNodeMeta(v)
		ok = err == nil
		return err
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		s.log.Error("read node meta", "node_id", id, "err", err)
	}
	return meta, ok
}

// AllNodeMeta returns every recorded node, keyed by node id. The map is
// the caller's own and is empty, not nil, when no node is recorded.
func (s *Store) AllNodeMeta() (map[string]NodeMeta, error) {
	out := make(map[string]NodeMeta)
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
			m, err := decodeNodeMeta(v)
			if err != nil {
				return fmt.Errorf("node %q: %w", k, err)
			}
			out[string(k)] = m
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeNodeMeta parses a nodes-bucket value.
func decodeNodeMeta(v []byte) (NodeMeta, error) {
	var m fsmpb.NodeMeta
	if err := proto.Unmarshal(v, &m); err != nil {
		return NodeMeta{}, fmt.Errorf("decode node meta: %w", err)
	}
	return NodeMeta{GRPCAddr: m.GetGrpcAddr(), RaftAddr: m.GetRaftAddr()}, nil
}
