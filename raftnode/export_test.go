package raftnode

// Snapshot forces raft to take a snapshot now and waits for it. Test hook.
func (n *Node) Snapshot() error {
	return n.raft.Snapshot().Error()
}
