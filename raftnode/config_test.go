package raftnode_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

func validConfig() raftnode.Config {
	cfg := raftnode.DefaultConfig()
	cfg.ID = "n1"
	cfg.RaftBindAddr = "127.0.0.1:7001"
	cfg.DataDir = "/tmp/raftnode-config-test"
	return cfg
}

func TestConfig_Validate(t *testing.T) {
	cluster := []raftnode.Server{{ID: "n1", RaftAddr: "127.0.0.1:7001"}, {ID: "n2", RaftAddr: "127.0.0.1:7002"}}
	tests := []struct {
		name    string
		mutate  func(*raftnode.Config)
		wantErr string // "" means valid
	}{
		{"default plus required", func(*raftnode.Config) {}, ""},
		{"port 0", func(c *raftnode.Config) { c.RaftBindAddr = "127.0.0.1:0" }, ""},
		{"advertise for wildcard bind", func(c *raftnode.Config) {
			c.RaftBindAddr, c.RaftAdvertiseAddr = "0.0.0.0:7001", "10.0.0.1:7001"
		}, ""},
		{"bootstrap with cluster", func(c *raftnode.Config) { c.Bootstrap, c.InitialCluster = true, cluster }, ""},
		{"missing ID", func(c *raftnode.Config) { c.ID = "" }, "ID is required"},
		{"missing DataDir", func(c *raftnode.Config) { c.DataDir = "" }, "DataDir is required"},
		{"missing bind", func(c *raftnode.Config) { c.RaftBindAddr = "" }, "RaftBindAddr is required"},
		{"bad bind", func(c *raftnode.Config) { c.RaftBindAddr = "localhost" }, "RaftBindAddr"},
		{"wildcard bind", func(c *raftnode.Config) { c.RaftBindAddr = "0.0.0.0:7001" }, "not advertisable"},
		{"advertise host name", func(c *raftnode.Config) { c.RaftAdvertiseAddr = "node1:7001" }, "specific IP"},
		{"advertise port 0", func(c *raftnode.Config) { c.RaftAdvertiseAddr = "127.0.0.1:0" }, "non-zero port"},
		{"zero heartbeat", func(c *raftnode.Config) { c.HeartbeatTimeout = 0 }, "HeartbeatTimeout"},
		{"election below heartbeat", func(c *raftnode.Config) { c.ElectionTimeout = time.Millisecond * 100 }, "ElectionTimeout"},
		{"lease above heartbeat", func(c *raftnode.Config) { c.LeaderLeaseTimeout = time.Second }, "LeaderLeaseTimeout"},
		{"zero commit", func(c *raftnode.Config) { c.CommitTimeout = 0 }, "CommitTimeout"},
		{"zero retain", func(c *raftnode.Config) { c.SnapshotRetain = 0 }, "SnapshotRetain"},
		{"zero default timeout", func(c *raftnode.Config) { c.DefaultTimeout = 0 }, "DefaultTimeout"},
		{"cluster without self", func(c *raftnode.Config) {
			c.Bootstrap, c.InitialCluster = true, cluster[1:]
		}, "must include this node"},
		{"cluster with other self address", func(c *raftnode.Config) {
			c.Bootstrap, c.InitialCluster = true, []raftnode.Server{{ID: "n1", RaftAddr: "127.0.0.1:9999"}}
		}, "advertises"},
		{"duplicate ID", func(c *raftnode.Config) {
			c.Bootstrap = true
			c.InitialCluster = []raftnode.Server{cluster[0], {ID: "n1", RaftAddr: "127.0.0.1:7003"}}
		}, "duplicate ID"},
		{"duplicate address", func(c *raftnode.Config) {
			c.Bootstrap = true
			c.InitialCluster = []raftnode.Server{cluster[0], {ID: "n2", RaftAddr: "127.0.0.1:7001"}}
		}, "duplicate RaftAddr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNew_InvalidConfig(t *testing.T) {
	if _, err := raftnode.New(raftnode.Config{}, nil); err == nil {
		t.Fatal("New with zero Config succeeded")
	}
}

// TestNew_ReleasesResourcesOnFailure fails New after the log store and
// transport are open (the bound port turns out not to match the initial
// cluster) and checks both were released: the data dir opens again, and
// goleak (TestMain) sees no transport goroutines.
func TestNew_ReleasesResourcesOnFailure(t *testing.T) {
	cfg := raftnodetest.Config(t, "n1", "127.0.0.1:0", filepath.Join(t.TempDir(), "n1"))
	cfg.Bootstrap = true
	cfg.InitialCluster = []raftnode.Server{{ID: "n1", RaftAddr: "127.0.0.1:1"}}
	if _, err := raftnode.New(cfg, raftnodetest.NewStateMachine()); err == nil || !strings.Contains(err.Error(), "advertises") {
		t.Fatalf("New = %v, want address mismatch error", err)
	}
	cfg.InitialCluster = nil
	n, err := raftnode.New(cfg, raftnodetest.NewStateMachine())
	if err != nil {
		t.Fatalf("New after failed New: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
