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
