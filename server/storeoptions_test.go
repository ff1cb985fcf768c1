package server

import (
	"testing"
	"time"
)

// TestConfig_StoreOptions checks how the node's store commits by default
// and when configured.
func TestConfig_StoreOptions(t *testing.T) {
	for _, tc := range []struct {
		name         string
		interval     time.Duration
		entries      int
		wantInterval time.Duration
		wantEntries  int
	}{
		{"default", 0, 0, DefaultStateMachineCommitInterval, 0},
		{"set", 200 * time.Millisecond, 5000, 200 * time.Millisecond, 5000},
		{"every batch", -time.Millisecond, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{StateMachineCommitInterval: tc.interval, StateMachineCommitEntries: tc.entries, BootIDPath: "/x"}
			o := cfg.storeOptions(nil)
			if o.CommitInterval != tc.wantInterval || o.CommitEntries != tc.wantEntries {
				t.Fatalf("CommitInterval %v, CommitEntries %d; want %v, %d", o.CommitInterval, o.CommitEntries, tc.wantInterval, tc.wantEntries)
			}
			if !o.NoSync || o.BootIDPath != "/x" {
				t.Fatalf("NoSync %v, BootIDPath %q; want true, /x", o.NoSync, o.BootIDPath)
			}
		})
	}
}
