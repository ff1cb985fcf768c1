package raftnode_test

import (
	"errors"
	"testing"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
)

func TestNode_FatalApplyErrorShutsDown(t *testing.T) {
	c := raftnodetest.StartCluster(t, 1)
	n := c.Node(c.WaitLeader(waitTimeout))
	mustApply(t, n, "k", "v")

	_, err := n.Apply(ctxTimeout(t, waitTimeout), raftnodetest.FailCmd())
	if !errors.Is(err, raftnode.ErrShutdown) || !errors.Is(err, raftnode.ErrOutcomeUnknown) {
		t.Fatalf("Apply of failing entry: err = %v, want ErrShutdown and ErrOutcomeUnknown", err)
	}
	raftnodetest.WaitFor(t, waitTimeout, "role shutdown", func() bool {
		return n.Status().Role == "shutdown"
	})
	if _, err := n.Apply(ctxTimeout(t, waitTimeout), raftnodetest.SetCmd("k", "w")); !errors.Is(err, raftnode.ErrShutdown) {
		t.Errorf("Apply after fatal error: err = %v, want ErrShutdown", err)
	}
	if err := n.LinearizableRead(ctxTimeout(t, waitTimeout)); !errors.Is(err, raftnode.ErrShutdown) {
		t.Errorf("LinearizableRead after fatal error: err = %v, want ErrShutdown", err)
	}
	if v, _ := c.Members[0].SM.Get("k"); v != "v" {
		t.Errorf("k = %q, want v", v)
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close after fatal error: %v", err)
	}
}
