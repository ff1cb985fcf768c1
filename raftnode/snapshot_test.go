package raftnode_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

// smallLog keeps almost no log after a snapshot, so a joining node can only
// catch up by installing it.
func smallLog(cfg *raftnode.Config) {
	cfg.RaftBindAddr = "127.0.0.1:0"
	cfg.InitialCluster = nil
	cfg.TrailingLogs = 2
}

func TestNode_SnapshotInstalledOnJoin(t *testing.T) {
	c := raftnodetest.StartCluster(t, 1, smallLog)
	leader := c.Node(c.WaitLeader(waitTimeout))
	for i := 0; i < 20; i++ {
		mustApply(t, leader, fmt.Sprintf("k%02d", i), "v")
	}
	if err := leader.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}

	j := c.AddNode(smallLog)
	if err := leader.AddVoter(ctxTimeout(t, waitTimeout), c.Node(j).ID(), c.Node(j).RaftAddr()); err != nil {
		t.Fatalf("AddVoter: %v", err)
	}
	sm := c.Members[j].SM
	waitKeys(t, sm, 20)
	if st := sm.Stats(); st.Restores != 1 || st.Applies != 0 || st.Replays != 0 {
		t.Errorf("joiner stats %+v, want 1 restore, 0 applies, 0 replays", st)
	}

	// Entries after the snapshot arrive through the log.
	mustApply(t, leader, "after", "snapshot")
	waitKeys(t, sm, 21)
	if st := sm.Stats(); st.Applies != 1 {
		t.Errorf("joiner applies after snapshot = %d, want 1", st.Applies)
	}
}

// TestNode_RestoresSnapshotWhenStateMachineBehind loses the state machine's
// data (as if its file were deleted) and restarts: the node must restore the
// local snapshot before raft replays the entries after it.
func TestNode_RestoresSnapshotWhenStateMachineBehind(t *testing.T) {
	c := raftnodetest.StartCluster(t, 1, smallLog)
	leader := c.Node(c.WaitLeader(waitTimeout))
	for i := 0; i < 10; i++ {
		mustApply(t, leader, fmt.Sprintf("k%02d", i), "v")
	}
	if err := leader.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	for i := 10; i < 13; i++ {
		mustApply(t, leader, fmt.Sprintf("k%02d", i), "v")
	}
	c.Kill(0)

	sm := raftnodetest.NewStateMachine()
	c.Members[0].SM = sm
	c.Restart(0)
	c.WaitLeader(waitTimeout)
	waitKeys(t, sm, 13)
	if st := sm.Stats(); st.Restores != 1 || st.Applies != 3 || st.Replays != 0 {
		t.Errorf("stats %+v, want 1 restore, 3 applies, 0 replays", st)
	}
}

// TestNode_RefusesUnaccountedState starts a node whose state machine has
// data but whose raft directory is empty.
func TestNode_RefusesUnaccountedState(t *testing.T) {
	sm := raftnodetest.NewStateMachine()
	if _, err := sm.Apply(5, raftnodetest.SetCmd("k", "v")); err != nil {
		t.Fatal(err)
	}
	cfg := raftnodetest.Config(t, "n1", "127.0.0.1:0", filepath.Join(t.TempDir(), "n1"))
	cfg.Bootstrap = true
	n, err := raftnode.New(cfg, sm)
	if err == nil {
		_ = n.Close()
		t.Fatal("New succeeded with a state machine raft cannot account for")
	}
	if !strings.Contains(err.Error(), "applied index 5") {
		t.Errorf("err = %v, want it to mention the applied index", err)
	}
}
