package raftnode_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

func TestParseLogStoreKind(t *testing.T) {
	for in, want := range map[string]raftnode.LogStoreKind{
		"": raftnode.LogStoreAuto, "auto": raftnode.LogStoreAuto,
		"wal": raftnode.LogStoreWAL, "boltdb": raftnode.LogStoreBoltDB,
	} {
		if got, err := raftnode.ParseLogStoreKind(in); err != nil || got != want {
			t.Errorf("ParseLogStoreKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := raftnode.ParseLogStoreKind("rocksdb"); err == nil || !strings.Contains(err.Error(), "auto, wal or boltdb") {
		t.Errorf("ParseLogStoreKind(rocksdb) error = %v, want one listing the choices", err)
	}
}

// Each format keeps its data across restarts, auto finds the format a
// directory was created with, and asking for the other one is refused
// rather than starting the node on an empty log.
func TestLogStore_FormatIsKeptAcrossRestarts(t *testing.T) {
	for _, kind := range []raftnode.LogStoreKind{raftnode.LogStoreWAL, raftnode.LogStoreBoltDB} {
		t.Run(string(kind), func(t *testing.T) {
			c := raftnodetest.StartCluster(t, 1, func(cfg *raftnode.Config) { cfg.LogStore = kind })
			c.WaitLeader(waitTimeout)
			n := c.Node(0)
			if got := n.LogStoreKind(); got != kind {
				t.Fatalf("LogStoreKind = %q, want %q", got, kind)
			}
			if _, err := os.Stat(n.LogStorePath()); err != nil {
				t.Fatalf("log store path: %v", err)
			}
			for i := range 20 {
				mustApply(t, n, "k", string(rune('a'+i)))
			}
			last := n.Status().LastLogIndex
			c.Kill(0)

			other := raftnode.LogStoreBoltDB
			if kind == raftnode.LogStoreBoltDB {
				other = raftnode.LogStoreWAL
			}
			cfg := c.Members[0].Config
			cfg.LogStore = other
			if _, err := raftnode.New(cfg, c.Members[0].SM); err == nil ||
				!strings.Contains(err.Error(), "--raft-log-store="+string(kind)) {
				t.Fatalf("New with %s on a %s dir: err = %v, want a refusal naming %s", other, kind, err, kind)
			}

			c.Members[0].Config.LogStore = raftnode.LogStoreAuto
			c.Restart(0)
			c.WaitLeader(waitTimeout)
			if got := c.Node(0).LogStoreKind(); got != kind {
				t.Fatalf("after restart with auto: LogStoreKind = %q, want %q", got, kind)
			}
			if got := c.Node(0).Status().LastLogIndex; got < last {
				t.Fatalf("after restart: last log index %d, want >= %d", got, last)
			}
			mustApply(t, c.Node(0), "k", "after-restart")
		})
	}
}

// A second node on the same data directory fails at once instead of
// blocking inside the log store or writing to it.
func TestLogStore_DataDirIsLocked(t *testing.T) {
	c := raftnodetest.StartCluster(t, 1)
	c.WaitLeader(waitTimeout)
	cfg := c.Members[0].Config
	_, err := raftnode.New(cfg, raftnodetest.NewStateMachine())
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second New on %s: err = %v, want a lock error", cfg.DataDir, err)
	}
	mustApply(t, c.Node(0), "k", "v") // the first node is unaffected
}

// A directory holding both formats is ambiguous and refused.
func TestLogStore_BothFormatsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "raft.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := raftnodetest.Config(t, "n1", raftnodetest.FreeAddrs(t, 1)[0], dir)
	cfg.Bootstrap = true
	if _, err := raftnode.New(cfg, raftnodetest.NewStateMachine()); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("New on a dir with raft.db and wal/: err = %v, want a refusal", err)
	}
}

// A follower that clears a conflicting suffix of its log (raft's
// DeleteRange at the tail) and restarts must still read its log. raft-wal
// v0.4.0 recorded the tail segment as sealed without writing its index,
// and every later start panicked with "sealed segment has no index block"
// (hashicorp/raft-wal#31, found here by the chaos harness, seed 1305).
func TestLogStore_ReopensAfterTailTruncation(t *testing.T) {
	for _, kind := range []raftnode.LogStoreKind{raftnode.LogStoreWAL, raftnode.LogStoreBoltDB} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			st := raftnode.OpenLogStoreForTest(t, dir, kind)
			logs := make([]*raft.Log, 10)
			for i := range logs {
				logs[i] = &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: []byte{byte(i)}}
			}
			if err := st.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			if err := st.DeleteRange(9, 10); err != nil {
				t.Fatal(err)
			}
			if err := st.StoreLogs([]*raft.Log{{Index: 9, Term: 2, Type: raft.LogCommand, Data: []byte("new")}}); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}

			st = raftnode.OpenLogStoreForTest(t, dir, kind)
			defer st.Close()
			for i := uint64(1); i <= 9; i++ {
				var l raft.Log
				if err := st.GetLog(i, &l); err != nil {
					t.Fatalf("GetLog(%d) after reopen: %v", i, err)
				}
				if i == 9 && (l.Term != 2 || string(l.Data) != "new") {
					t.Fatalf("entry 9 = term %d %q, want the rewritten one", l.Term, l.Data)
				}
			}
			if last, err := st.LastIndex(); err != nil || last != 9 {
				t.Fatalf("LastIndex = %d, %v; want 9", last, err)
			}
		})
	}
}
