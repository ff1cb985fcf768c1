package store

import (
	"bytes"
	"fmt"
	"slices"

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
	// OpCompareAndSwap sets a key if its value is the expected one.
	OpCompareAndSwap
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
	case OpCompareAndSwap:
		return "compare_and_swap"
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
	// Duplicate is true when the entry repeated an exactly-once request
	// that had already been applied: nothing changed, and the other fields
	// describe the original outcome.
	Duplicate bool
	// OriginalIndex is, for a Duplicate, the index of the entry that
	// applied the request; 0 otherwise. WriteIndex picks the right index.
	OriginalIndex uint64
	// ConditionFailed is true when a CompareAndSwap or a conditional Put or
	// Delete found the key not as expected: nothing was written. It is an
	// outcome, not an error.
	ConditionFailed bool
	// Current is, when ConditionFailed, the key's state that failed the
	// condition; nil when the key did not exist.
	Current *KeyValue
	// CurrentValueOmitted is true when Current carries the key's indexes
	// but not its value: a Duplicate whose key has been written since the
	// original (the exactly-once table does not keep values).
	CurrentValueOmitted bool
	// Err is a user-level failure, such as ErrInvalidArgument for a command
	// that slipped past validation, or ErrRequestTooOld and
	// ErrSessionExpired for an exactly-once request that can no longer be
	// deduplicated. The entry still counts as applied (the applied index
	// advances; an exactly-once request still updates its client's
	// bookkeeping) and no data changed. nil on success.
	Err error
}

// WriteIndex is the raft index at which the request took effect: the
// original entry's for a Duplicate, otherwise Index. For a successful write
// it is the ModIndex that write gave the key.
func (r Result) WriteIndex() uint64 {
	if r.Duplicate {
		return r.OriginalIndex
	}
	return r.Index
}

// Apply applies the raft log entry at index, whose data was built by one
// of the command constructors.
//
// The data change and the new applied index are written in one bbolt
// update transaction, so a crash never leaves one without the other.
// Entries with index <= AppliedIndex() are skipped (Result.Skipped) without
// being decoded and change nothing; this makes replay after a restart
// harmless. An entry whose command carries a request id (WithRequestID) is
// applied at most once per id: a repeat is answered from the exactly-once
// table (Result.Duplicate), written in the same transaction. Apply is
// deterministic: it depends only on the stored state, index and data.
//
// A returned error is fatal and nothing was changed: ErrCorruptEntry for
// data that does not decode or has an unknown format or operation, ErrClosed,
// or a disk failure. The caller must stop the node rather than apply later
// entries. Apply never panics on any data.
//
// Apply is safe to call concurrently with reads and Snapshot; calls to
// Apply are serialised.
func (s *Store) Apply(index uint64, data []byte) (Result, error) {
	res, err := s.ApplyBatch([]Entry{{Index: index, Data: data}})
	return res[0], err
}

// Entry is one raft log entry handed to ApplyBatch.
type Entry struct {
	// Index is the entry's raft index.
	Index uint64
	// Data is the encoded command.
	Data []byte
}

// ApplyBatch applies entries, in order, exactly as that many Apply calls
// would, but in one bbolt transaction: one commit (and fsync, without
// NoSync) for the whole batch instead of one per entry. With
// Options.CommitInterval the transaction stays open for later batches and
// is committed once for all of them; reads see each batch as soon as
// ApplyBatch returns either way. The applied index is written once per
// batch, as the last applied entry's, in the same transaction. Results
// align with entries. A returned error is fatal and nothing in the batch
// was changed (results then carry only indexes); if earlier uncommitted
// batches were lost with it, every later call returns the error too (see
// DESIGN.md, "Deferred commits").
func (s *Store) ApplyBatch(entries []Entry) ([]Result, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	results := make([]Result, len(entries))
	for i, e := range entries {
		results[i] = Result{Index: e.Index}
	}
	if s.closed {
		return results, ErrClosed
	}
	if s.failed != nil {
		return results, s.failed
	}
	applied := s.applied.Load()
	cmds := make([]*fsmpb.Command, len(entries))
	for i, e := range entries {
		if e.Index <= applied {
			results[i].Skipped = true
			continue
		}
		cmd, err := decodeCommand(e.Data)
		if err != nil {
			return results, fmt.Errorf("entry %d: %w", e.Index, err)
		}
		cmds[i] = cmd
	}
	if !slices.ContainsFunc(cmds, func(c *fsmpb.Command) bool { return c != nil }) {
		return results, nil // all replayed: nothing to write
	}
	p, err := s.openPending()
	if err != nil {
		return results, err
	}
	last := applied
	applyResults := make([]Result, len(entries))
	var touched [][]byte // data keys the batch may have written
	applyCount := 0
	force := false // the batch wrote what reads take from bbolt alone
	err = func(tx *bolt.Tx) error {
		for i, cmd := range cmds {
			if cmd == nil {
				continue
			}
			p.fill.observe(cmd)
			res, err := applyCommand(tx, s.limits, entries[i].Index, cmd)
			if err != nil {
				return fmt.Errorf("apply entry %d: %w", entries[i].Index, err)
			}
			applyResults[i] = res
			last = entries[i].Index
			applyCount++
			switch {
			case opOf(cmd) == OpSetNodeMeta:
				force = true
			case res.Err == nil && !res.Duplicate:
				touched = append(touched, keyOf(cmd))
			}
		}
		return tx.Bucket(bucketMeta).Put(keyAppliedIndex, encodeUint64(last))
	}(p.tx)
	if err != nil {
		s.abortPending(err)
		return results, err
	}
	p.entries += applyCount
	p.batches++
	p.last = last
	if err := s.settle(p, touched, force); err != nil {
		return results, err
	}
	s.applied.Store(last)
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		res := applyResults[i]
		results[i] = res
		switch {
		case res.Err != nil:
			s.log.Debug("entry rejected", "index", res.Index, "op", res.Op, "err", res.Err)
		case res.Duplicate:
			s.log.Debug("repeated request answered from the exactly-once table", "index", res.Index, "op", res.Op,
				"original_index", res.OriginalIndex)
		}
	}
	return results, nil
}

// applyCommand performs cmd inside tx: once per request id when it carries
// one, otherwise plainly. User-level failures go into Result.Err with a nil
// error; a returned error aborts the transaction.
func applyCommand(tx *bolt.Tx, limits sessionLimits, index uint64, cmd *fsmpb.Command) (Result, error) {
	if cmd.GetRequestId() != nil {
		return applyOnce(tx, limits, index, cmd)
	}
	return applyOp(tx, index, cmd)
}

// applyOp performs the operation of cmd.
func applyOp(tx *bolt.Tx, index uint64, cmd *fsmpb.Command) (Result, error) {
	switch op := cmd.GetOp().(type) {
	case *fsmpb.Command_Put:
		return applyPut(tx, index, op.Put)
	case *fsmpb.Command_Delete:
		return applyDelete(tx, index, op.Delete)
	case *fsmpb.Command_CompareAndSwap:
		return applyCompareAndSwap(tx, index, op.CompareAndSwap)
	case *fsmpb.Command_SetNodeMeta:
		return applySetNodeMeta(tx, index, op.SetNodeMeta)
	default:
		// decodeCommand already rejected this; keep the switch total.
		return Result{Index: index}, fmt.Errorf("%w: unknown operation %T", ErrCorruptEntry, op)
	}
}

// opOf names the operation of cmd (0 if unknown).
func opOf(cmd *fsmpb.Command) Op {
	switch cmd.GetOp().(type) {
	case *fsmpb.Command_Put:
		return OpPut
	case *fsmpb.Command_Delete:
		return OpDelete
	case *fsmpb.Command_CompareAndSwap:
		return OpCompareAndSwap
	case *fsmpb.Command_SetNodeMeta:
		return OpSetNodeMeta
	}
	return 0
}

// keyOf returns the key cmd writes (nil for SetNodeMeta).
func keyOf(cmd *fsmpb.Command) []byte {
	switch op := cmd.GetOp().(type) {
	case *fsmpb.Command_Put:
		return op.Put.GetKey()
	case *fsmpb.Command_Delete:
		return op.Delete.GetKey()
	case *fsmpb.Command_CompareAndSwap:
		return op.CompareAndSwap.GetKey()
	}
	return nil
}

// readKey returns key's current state inside tx; ok is false when it does
// not exist.
func readKey(tx *bolt.Tx, key []byte) (kv KeyValue, ok bool, err error) {
	v := tx.Bucket(bucketData).Get(key)
	if v == nil {
		return KeyValue{}, false, nil
	}
	kv, err = decodeKeyValue(key, v)
	if err != nil {
		return KeyValue{}, false, err
	}
	return kv, true, nil
}

// checkModIndex evaluates a mod-index condition (nil: none) against the
// key's current state. On a mismatch it marks res and returns false.
func checkModIndex(res *Result, cur KeyValue, exists bool, want *uint64) bool {
	if want == nil {
		return true
	}
	if (*want == 0 && !exists) || (exists && cur.ModIndex == *want) {
		return true
	}
	res.ConditionFailed = true
	if exists {
		res.Current = &cur
	}
	return false
}

// applyPut creates or updates a key, if its condition (if any) holds. An
// update keeps CreateIndex.
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
	cur, exists, err := readKey(tx, key)
	if err != nil {
		return res, err
	}
	if !checkModIndex(&res, cur, exists, p.ExpectedModIndex) {
		return res, nil
	}
	return res, writeKey(tx, index, key, value, cur, exists)
}

// writeKey stores value under key at index, keeping the CreateIndex of an
// existing key (cur).
func writeKey(tx *bolt.Tx, index uint64, key, value []byte, cur KeyValue, exists bool) error {
	sv := &fsmpb.StoredValue{Value: value, CreateIndex: index, ModIndex: index}
	if exists {
		sv.CreateIndex = cur.CreateIndex
	}
	buf, err := proto.Marshal(sv)
	if err != nil {
		return fmt.Errorf("encode stored value: %w", err)
	}
	if err := tx.Bucket(bucketData).Put(key, buf); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	return nil
}

// applyDelete removes a key, if its condition (if any) holds; Deleted says
// whether it existed.
func applyDelete(tx *bolt.Tx, index uint64, d *fsmpb.Delete) (Result, error) {
	res := Result{Index: index, Op: OpDelete}
	key := d.GetKey()
	if err := ValidateKey(key); err != nil {
		res.Err = err
		return res, nil
	}
	cur, exists, err := readKey(tx, key)
	if err != nil {
		return res, err
	}
	if !checkModIndex(&res, cur, exists, d.ExpectedModIndex) || !exists {
		return res, nil
	}
	if err := tx.Bucket(bucketData).Delete(key); err != nil {
		return res, fmt.Errorf("delete: %w", err)
	}
	res.Deleted = true
	return res, nil
}

// applyCompareAndSwap sets a key to NewValue if its value equals
// ExpectedValue, or, when ExpectedValue is absent (nil), if it does not
// exist.
func applyCompareAndSwap(tx *bolt.Tx, index uint64, c *fsmpb.CompareAndSwap) (Result, error) {
	res := Result{Index: index, Op: OpCompareAndSwap}
	key, value, expected := c.GetKey(), c.GetNewValue(), c.GetExpectedValue()
	if err := ValidateKey(key); err != nil {
		res.Err = err
		return res, nil
	}
	for _, v := range [][]byte{value, expected} {
		if err := ValidateValue(v); err != nil {
			res.Err = err
			return res, nil
		}
	}
	cur, exists, err := readKey(tx, key)
	if err != nil {
		return res, err
	}
	// Presence of expected_value is nil-ness of the Go slice: protobuf
	// keeps a present empty value non-nil.
	match := (expected == nil && !exists) || (expected != nil && exists && bytes.Equal(cur.Value, expected))
	if !match {
		res.ConditionFailed = true
		if exists {
			res.Current = &cur
		}
		return res, nil
	}
	return res, writeKey(tx, index, key, value, cur, exists)
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
