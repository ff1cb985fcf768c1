package raftnode

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// StateMachine is the replicated state machine a Node drives. The store
// package implements it (through an adapter in the composition root);
// raftnode never interprets commands, which cross it as opaque bytes.
//
// Apply, Snapshot and Restore are called from a single raft goroutine and
// never concurrently with each other. AppliedIndex and the returned
// Snapshot's methods may be called concurrently with Apply.
type StateMachine interface {
	// Apply applies the committed entry at index. It must be deterministic:
	// every replica applies the same entries in the same order and must end
	// in the same state. Client-caused failures (a failed compare, a missing
	// key) belong in the returned value, which is handed to the proposer as
	// ApplyResult.Response.
	//
	// A non-nil error means the state machine cannot continue (disk failure,
	// an undecodable entry). It is fatal: the node logs it at Error, stops
	// applying further entries and shuts raft down deliberately (no panic);
	// later calls on the Node return ErrShutdown.
	//
	// Entries at or below AppliedIndex must be ignored: raft may replay them
	// after a restart. (Node already skips entries at or below the index it
	// read at start and after each Restore, but the state machine is the
	// authority on what it has persisted.)
	Apply(index uint64, data []byte) (any, error)

	// AppliedIndex returns the index of the last entry applied and
	// visible to reads. The state machine persists it together with the
	// data it covers, though possibly later (a crash may then lose the
	// latest entries, which raft replays); Snapshot must persist what it
	// captures. It is 0 for an empty state machine.
	AppliedIndex() uint64

	// Snapshot captures a point-in-time view of the state for raft to
	// persist. It must return quickly (for example by opening a read-only
	// transaction); the expensive work belongs in Snapshot.WriteTo, which
	// runs concurrently with later Apply calls.
	Snapshot() (Snapshot, error)

	// Restore replaces the entire state with the snapshot read from r,
	// including the applied index recorded in it. It must be atomic with
	// respect to the state machine's readers. Raft closes r afterwards.
	Restore(r io.Reader) error
}

// Snapshot is a point-in-time view of a StateMachine, created by
// StateMachine.Snapshot.
type Snapshot interface {
	// WriteTo streams the snapshot to w. It may run concurrently with
	// StateMachine.Apply. It is called at most once.
	WriteTo(w io.Writer) (int64, error)

	// Release frees the resources held by the snapshot. It is always called
	// exactly once, whether or not WriteTo ran or succeeded.
	Release()
}

// BatchStateMachine is a StateMachine that can apply several committed
// entries in one step, e.g. in one storage transaction with one fsync.
// raftnode uses ApplyBatch when the state machine has it. The contract is
// Apply's, for every entry in order; responses align with entries, and an
// error is fatal for the whole batch, which must then have changed nothing.
type BatchStateMachine interface {
	StateMachine
	ApplyBatch(entries []Entry) ([]any, error)
}

// Entry is one committed log entry handed to BatchStateMachine.ApplyBatch.
type Entry struct {
	// Index is the entry's raft index.
	Index uint64
	// Data is the command, as proposed with Node.Apply.
	Data []byte
}

// fsm adapts a StateMachine to raft.FSM. It also implements
// raft.ConfigurationStore, only so that it sees configuration entries and
// can count them as processed: otherwise a linearizable read whose commit
// index lands on a membership change would wait for an index that never
// reaches the state machine.
type fsm struct {
	sm      StateMachine
	log     *slog.Logger
	applied *appliedIndex
	onFatal func(index uint64, err error) // called once, from the FSM goroutine; must not block
	// waitDurable, when not nil, blocks until the entry at index is on
	// this node's disk, or returns why it never will be (parallelLog).
	waitDurable func(index uint64) error

	// skipThrough is the state machine's applied index when it was last
	// (re)loaded; entries at or below it are already in the state machine.
	// Only touched from raft's FSM goroutine (or before raft starts).
	skipThrough uint64

	failed atomic.Bool // set after a fatal Apply error; nothing is applied after it
}

var (
	_ raft.FSM                = (*fsm)(nil)
	_ raft.BatchingFSM        = (*fsm)(nil)
	_ raft.ConfigurationStore = (*fsm)(nil)
)

// fatalResponse is what raft hands back to a proposer whose entry hit, or
// came after, a fatal state machine error.
type fatalResponse struct {
	index uint64
	err   error
}

func newFSM(sm StateMachine, log *slog.Logger, onFatal func(uint64, error)) *fsm {
	f := &fsm{sm: sm, log: log, applied: newAppliedIndex(), onFatal: onFatal}
	f.reload()
	return f
}

// reload re-reads the state machine's applied index after it was opened or
// restored.
func (f *fsm) reload() {
	f.skipThrough = f.sm.AppliedIndex()
	f.applied.advance(f.skipThrough)
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	if f.failed.Load() {
		// Never apply past a failed entry: the state machine would skip it.
		return fatalResponse{index: l.Index, err: ErrShutdown}
	}
	if l.Index <= f.skipThrough {
		f.applied.advance(l.Index)
		return nil
	}
	err := f.durable(l.Index)
	var resp any
	if err == nil {
		resp, err = f.sm.Apply(l.Index, l.Data)
	}
	if err != nil {
		f.failed.Store(true)
		f.onFatal(l.Index, err)
		return fatalResponse{index: l.Index, err: err}
	}
	f.applied.advance(l.Index)
	return resp
}

// ApplyBatch implements raft.BatchingFSM: raft hands over up to
// MaxAppendEntries committed entries at once (commands and configuration
// changes, in order). A BatchStateMachine applies the commands in one step
// (one storage transaction and fsync); any other state machine gets them
// one by one. A fatal error fails the whole batch: nothing of it was
// applied, and nothing after it will be.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	bsm, ok := f.sm.(BatchStateMachine)
	if !ok {
		for i, l := range logs {
			if l.Type == raft.LogCommand {
				out[i] = f.Apply(l)
			} else {
				f.processed(l.Index)
			}
		}
		return out
	}
	if f.failed.Load() {
		for i, l := range logs {
			out[i] = fatalResponse{index: l.Index, err: ErrShutdown}
		}
		return out
	}
	var entries []Entry
	var at []int // position in logs of each entry
	for i, l := range logs {
		if l.Type == raft.LogCommand && l.Index > f.skipThrough {
			entries = append(entries, Entry{Index: l.Index, Data: l.Data})
			at = append(at, i)
		}
	}
	if len(entries) > 0 {
		err := f.durable(entries[len(entries)-1].Index)
		var resps []any
		if err == nil {
			resps, err = bsm.ApplyBatch(entries)
		}
		if err != nil {
			f.failed.Store(true)
			f.onFatal(entries[0].Index, err)
			for i, l := range logs {
				out[i] = fatalResponse{index: l.Index, err: err}
			}
			return out
		}
		for j, i := range at {
			out[i] = resps[j]
		}
	}
	f.applied.advance(logs[len(logs)-1].Index)
	return out
}

// durable waits until the entry at index is on this node's disk: a leader
// writes its log in parallel with replicating it, and raft may commit an
// entry that only followers have written (parallelLog).
func (f *fsm) durable(index uint64) error {
	if f.waitDurable == nil {
		return nil
	}
	if err := f.waitDurable(index); err != nil {
		return fmt.Errorf("raft log entry %d was committed but not written here: %w", index, err)
	}
	return nil
}

// StoreConfiguration implements raft.ConfigurationStore. Configuration is
// read from raft directly (see Members); this only records progress.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.processed(index)
}

// processed records that every entry up to index has gone through the FSM
// goroutine, unless applying has stopped.
func (f *fsm) processed(index uint64) {
	if !f.failed.Load() {
		f.applied.advance(index)
	}
}

// Snapshot implements raft.FSM.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if f.failed.Load() {
		return nil, fmt.Errorf("snapshot: %w", ErrShutdown)
	}
	s, err := f.sm.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("state machine snapshot: %w", err)
	}
	return fsmSnapshot{s}, nil
}

// Restore implements raft.FSM. Raft calls it when installing a snapshot
// sent by the leader; at start-up Node calls it itself (see New).
func (f *fsm) Restore(rc io.ReadCloser) error {
	if err := f.sm.Restore(rc); err != nil {
		return fmt.Errorf("state machine restore: %w", err)
	}
	f.reload()
	f.log.Info("restored state machine from snapshot", "index", f.skipThrough)
	return nil
}

// fsmSnapshot adapts a Snapshot to raft.FSMSnapshot.
type fsmSnapshot struct{ s Snapshot }

// Persist implements raft.FSMSnapshot.
func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.s.WriteTo(sink); err != nil {
		// Cancel's own error adds nothing: the write already failed.
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s fsmSnapshot) Release() { s.s.Release() }

// appliedIndex is the highest log index known to be reflected in the state
// machine, with a broadcast to wake waiters when it advances. Entries that
// never reach the state machine (raft no-ops and barriers) are counted once
// a later entry, or a barrier future, proves they have been processed.
type appliedIndex struct {
	idx atomic.Uint64

	mu     sync.Mutex
	waitCh chan struct{} // guarded by mu; closed and cleared on advance, nil when nobody waits
}

func newAppliedIndex() *appliedIndex { return &appliedIndex{} }

func (a *appliedIndex) load() uint64 { return a.idx.Load() }

// advance raises the index to i if it is higher and wakes any waiters.
func (a *appliedIndex) advance(i uint64) {
	for {
		cur := a.idx.Load()
		if i <= cur {
			return
		}
		if a.idx.CompareAndSwap(cur, i) {
			break
		}
	}
	a.mu.Lock()
	if a.waitCh != nil {
		close(a.waitCh)
		a.waitCh = nil
	}
	a.mu.Unlock()
}

// changed returns a channel closed at the next advance. Callers must fetch
// it before checking load, so an advance in between is not missed.
func (a *appliedIndex) changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waitCh == nil {
		a.waitCh = make(chan struct{})
	}
	return a.waitCh
}
