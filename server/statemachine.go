package server

import (
	"io"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/store"
)

// stateMachine adapts *store.Store to raftnode.StateMachine. It is the only
// code that knows both types, which keeps store free of raft and raftnode
// free of bbolt.
type stateMachine struct{ st *store.Store }

var _ raftnode.BatchStateMachine = stateMachine{}

func (m stateMachine) Apply(index uint64, data []byte) (any, error) {
	return m.st.Apply(index, data)
}

func (m stateMachine) ApplyBatch(entries []raftnode.Entry) ([]any, error) {
	batch := make([]store.Entry, len(entries))
	for i, e := range entries {
		batch[i] = store.Entry{Index: e.Index, Data: e.Data}
	}
	results, err := m.st.ApplyBatch(batch)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(results))
	for i, r := range results {
		out[i] = r
	}
	return out, nil
}

func (m stateMachine) AppliedIndex() uint64 { return m.st.AppliedIndex() }

func (m stateMachine) Snapshot() (raftnode.Snapshot, error) {
	sn, err := m.st.Snapshot()
	if err != nil {
		return nil, err
	}
	return sn, nil
}

func (m stateMachine) Restore(r io.Reader) error { return m.st.Restore(r) }
