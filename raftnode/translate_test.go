package raftnode

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// nopSM is a StateMachine that accepts everything and stores nothing.
type nopSM struct{}

func (nopSM) Apply(uint64, []byte) (any, error) { return nil, nil }
func (nopSM) AppliedIndex() uint64              { return 0 }
func (nopSM) Snapshot() (Snapshot, error)       { return nil, errors.New("no snapshots") }
func (nopSM) Restore(io.Reader) error           { return nil }

// indexFuture is a resolved raft.IndexFuture at a given index.
type indexFuture struct{ index uint64 }

func (f indexFuture) Error() error  { return nil }
func (f indexFuture) Index() uint64 { return f.index }

func TestNode_FromRaft(t *testing.T) {
	// A node that never bootstraps stays a follower with no known leader.
	cfg := DefaultConfig()
	cfg.ID = "n1"
	cfg.RaftBindAddr = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(t.TempDir(), "n1")
	n, err := New(cfg, nopSM{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	other := errors.New("something else")
	notProposed, proposed := indexFuture{0}, indexFuture{7}
	tests := []struct {
		name   string
		err    error
		f      raft.Future
		want   []error
		reject []error
	}{
		{"not leader", raft.ErrNotLeader, notProposed, []error{ErrNoLeader}, []error{ErrOutcomeUnknown}},
		{"leadership lost, proposed", raft.ErrLeadershipLost, proposed, []error{ErrOutcomeUnknown}, []error{ErrNoLeader}},
		{"leadership lost, read", raft.ErrLeadershipLost, notProposed, []error{ErrNoLeader}, []error{ErrOutcomeUnknown}},
		{"shutdown", raft.ErrRaftShutdown, notProposed, []error{ErrShutdown}, []error{ErrOutcomeUnknown}},
		{"shutdown, proposed", raft.ErrRaftShutdown, proposed, []error{ErrShutdown, ErrOutcomeUnknown}, nil},
		{"enqueue timeout", raft.ErrEnqueueTimeout, notProposed, []error{ErrNotProposed}, []error{ErrOutcomeUnknown}},
		{"transfer in progress", raft.ErrLeadershipTransferInProgress, notProposed, []error{ErrNoLeader}, nil},
		{"other", other, notProposed, []error{other}, []error{ErrNoLeader, ErrShutdown, ErrOutcomeUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := n.fromRaft(tt.err, tt.f)
			for _, w := range tt.want {
				if !errors.Is(got, w) {
					t.Errorf("fromRaft(%v) = %v, want errors.Is %v", tt.err, got, w)
				}
			}
			for _, r := range tt.reject {
				if errors.Is(got, r) {
					t.Errorf("fromRaft(%v) = %v, must not match %v", tt.err, got, r)
				}
			}
		})
	}
	if err := n.fromRaft(nil, notProposed); err != nil {
		t.Errorf("fromRaft(nil) = %v", err)
	}
}
