package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// Op says what an applied entry did.
type Op int

// The operations a log entry can hold. Zero means "none": a skipped entry
// is not decoded and reports Op 0.
const (
	// OpPut sets a key.
	OpPut Op = iota + 1
	// OpDelete removes a key.
	OpDelete
	// OpSetNodeMeta records a node's addresses.
	OpSetNodeMeta
)

// String returns the operation's lowercase name, for logs.
func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpSetNodeMeta:
		return "set_node_meta"
	default:
		return fmt.Sprintf("Op(%d)", int(o))
	}
}

// Result is the outcome of applying one log entry. raftnode hands it back
// to the proposer, which turns Err into the client's error.
type Result struct {
	// Index is the raft index of the entry.
	Index uint64
	// Op is the operation the entry held; 0 when Skipped.
	Op Op
	// Deleted reports, for OpDelete, whether the key existed.
	Deleted bool
	// Skipped is true when the entry was at or below the stored applied
	// index and was not applied again.
	Skipped bool
	// Err is a user-level failure, such as ErrInvalidArgument for a command
	// that slipped past validation. The entry still counts as applied (the
	// applied index advances) and nothing else changed. nil on success.
	Err error
}

// Apply applies the raft log entry at index, whose data was built by one
// of the command constructors.
//
// The data change and the new applied index are written in one bbolt
// update transaction, so a crash never leaves one without the other.
// Entries with index <= AppliedIndex() are skipped (Result.Skipped) without
// being decoded and change nothing; this makes replay after a restart
// harmless. Apply is deterministic: it depends only on the stored state,
// index and data.
//
// A returned error is fatal and nothing was changed: ErrCorruptEntry for
// data that does not decode or has an unknown format or operation, ErrClosed,
// or a disk failure. The caller must stop the node rather than apply later
// entries. Apply never panics on any data.
//
// Apply is safe to call concurrently with reads and Snapshot; calls to
// Apply are serialised.
func (s *Store) Apply(index uint64, data []byte) (Result, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Result{Index: index}, ErrClosed
	}
	if index <= s.applied.Load() {
		return Result{Index: index, Skipped: true}, nil
	}
	cmd, err := decodeCommand(data)
	if err != nil {
		return Result{Index: index}, fmt.Errorf("entry %d: %w", index, err)
	}

	var res Result
	err = s.ref.db.Update(func(tx *bolt.Tx) error {
		var err error
		res, err = applyCommand(tx, index, cmd)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyAppliedIndex, encodeUint64(index))
	})
	if err != nil {
		return Result{Index: index, Op: res.Op}, fmt.Errorf("apply entry %d: %w", index, err)
	}
	s.applied.Store(index)
	if res.Err != nil {
		s.log.Debug("entry rejected", "index", index, "op", res.Op, "err", res.Err)
	}
	return res, nil
}

// applyCommand performs cmd inside tx. User-level failures go into
// Result.Err with a nil error; a returned error aborts the transaction.
func applyCommand(tx *bolt.Tx, index uint64, cmd *fsmpb.Command) (Result, error) {
	switch op := cmd.GetOp().(type) {
	case *fsmpb.Command_Put:
		return applyPut(tx, index, op.Put)
	case *fsmpb.Command_Delete:
		return applyDelete(tx, index, op.Delete)
	case *fsmpb.Command_SetNodeMeta:
		return applySetNodeMeta(tx, index, op.SetNodeMeta)
	default:
		// decodeCommand already rejected this; keep the switch total.
		return Result{Index: index}, fmt.Errorf("%w: unknown operation %T", ErrCorruptEntry, op)
	}
}

// applyPut creates or updates a key. An update keeps CreateIndex.
func applyPut(tx *bolt.Tx, index uint64, p *fsmpb.Put) (Result, error) {
	res := Result{Index: index, Op: OpPut}
	key, value := p.GetKey(), p.GetValue()
	if err := ValidateKey(key); err != nil {
		res.Err = err
		return res, nil
	}
	if err := ValidateValue(value); err != nil {
		res.Err = err
		return res, nil
	}
	b := tx.Bucket(bucketData)
	sv := &fsmpb.StoredValue{Value: value, CreateIndex: index, ModIndex: index}
	if old := b.Get(key); old != nil {
		var prev fsmpb.StoredValue
		if err := proto.Unmarshal(old, &prev); err != nil {
			return res, fmt.Errorf("decode stored value: %w", err)
		}
		sv.CreateIndex = prev.GetCreateIndex()
	}
	buf, err := proto.Marshal(sv)
	if err != nil {
		return res, fmt.Errorf("encode stored value: %w", err)
	}
	if err := b.Put(key, buf); err != nil {
		return res, fmt.Errorf("put: %w", err)
	}
	return res, nil
}

// applyDelete removes a key; Deleted says whether it existed.
func applyDelete(tx *bolt.Tx, index uint64, d *fsmpb.Delete) (Result, error) {
	res := Result{Index: index, Op: OpDelete}
	key := d.GetKey()
	if err := ValidateKey(key); err != nil {
		res.Err = err
		return res, nil
	}
	b := tx.Bucket(bucketData)
	if b.Get(key) == nil {
		return res, nil
	}
	if err := b.Delete(key); err != nil {
		return res, fmt.Errorf("delete: %w", err)
	}
	res.Deleted = true
	return res, nil
}

// applySetNodeMeta records (or replaces) a node's addresses.
func applySetNodeMeta(tx *bolt.Tx, index uint64, m *fsmpb.SetNodeMeta) (Result, error) {
	res := Result{Index: index, Op: OpSetNodeMeta}
	id := m.GetNodeId()
	if err := validateNodeMeta(id, m.GetGrpcAddr(), m.GetRaftAddr()); err != nil {
		res.Err = err
		return res, nil
	}
	buf, err := proto.Marshal(&fsmpb.NodeMeta{GrpcAddr: m.GetGrpcAddr(), RaftAddr: m.GetRaftAddr()})
	if err != nil {
		return res, fmt.Errorf("encode node meta: %w", err)
	}
	if err := tx.Bucket(bucketNodes).Put([]byte(id), buf); err != nil {
		return res, fmt.Errorf("put node meta: %w", err)
	}
	return res, nil
}
