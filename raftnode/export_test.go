package raftnode

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Snapshot forces raft to take a snapshot now and waits for it. Test hook.
func (n *Node) Snapshot() error {
	return n.raft.Snapshot().Error()
}

// OpenLogStoreForTest opens dir's raft log store as New would.
func OpenLogStoreForTest(t testing.TB, dir string, kind LogStoreKind) interface {
	raft.LogStore
	Close() error
} {
	t.Helper()
	st, err := openLogStore(dir, kind, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// HoldReadRounds makes linearizable reads' leadership rounds wait, before
// each takes its readers, until release is closed. Test hook.
func (n *Node) HoldReadRounds(release <-chan struct{}) {
	n.rounds.mu.Lock()
	defer n.rounds.mu.Unlock()
	n.rounds.beforeRound = func() { <-release }
}

// ReadRoundStats reports how many leadership rounds linearizable reads
// have run and how many reads wait for the next one. Test hook.
func (n *Node) ReadRoundStats() (rounds uint64, waiting int) {
	n.rounds.mu.Lock()
	defer n.rounds.mu.Unlock()
	if n.rounds.next != nil {
		waiting = n.rounds.next.readers
	}
	return n.rounds.rounds, waiting
}

// HoldLeaderLogWrites makes the node's writes of queued leader entries
// wait, each, until release is closed. Test hook.
func (n *Node) HoldLeaderLogWrites(release <-chan struct{}) {
	hook := func() error { <-release; return nil }
	n.plog.beforeWrite.Store(&hook)
}

// FailLeaderLogWrites makes the node's writes of queued leader entries
// fail with err instead of writing. Test hook.
func (n *Node) FailLeaderLogWrites(err error) {
	hook := func() error { return err }
	n.plog.beforeWrite.Store(&hook)
}
