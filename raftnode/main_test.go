package raftnode_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Node.await waits for a raft future on a helper goroutine, which
		// ends when raft answers the future. hashicorp/raft (v1.7.3)
		// never answers the futures of entries still queued for its FSM
		// goroutine when it shuts down (hashicorp/raft#498), so a node
		// stopped while such an entry waits, a write or the new leader's
		// readiness barrier, leaves that helper behind; raftnode/DESIGN.md
		// ("Lifecycle") documents it. Every other goroutine must be gone.
		goleak.IgnoreAnyFunction("github.com/raftkv/raftkv/raftnode.(*Node).await.func1"),
	)
}
