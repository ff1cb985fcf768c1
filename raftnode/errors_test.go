package raftnode_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raftnode"
)

func TestNotLeaderError(t *testing.T) {
	var err error = &raftnode.NotLeaderError{LeaderID: "n2", LeaderRaftAddr: "127.0.0.1:7002"}
	wrapped := fmt.Errorf("put: %w", err)
	if !errors.Is(wrapped, raftnode.ErrNotLeader) {
		t.Error("errors.Is(NotLeaderError, ErrNotLeader) = false")
	}
	if errors.Is(wrapped, raftnode.ErrNoLeader) {
		t.Error("errors.Is(NotLeaderError, ErrNoLeader) = true")
	}
	var nle *raftnode.NotLeaderError
	if !errors.As(wrapped, &nle) || nle.LeaderID != "n2" {
		t.Errorf("errors.As = %v", nle)
	}
	if msg := err.Error(); !strings.Contains(msg, "n2") || !strings.Contains(msg, "127.0.0.1:7002") {
		t.Errorf("Error() = %q, want leader id and address", msg)
	}
}
