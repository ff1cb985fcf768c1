// Package raftnode is raftkv's consensus layer: it runs one member of a raft
// cluster on top of hashicorp/raft and drives a StateMachine with the
// committed log.
//
// A Node owns the raft instance, its TCP transport, the log and stable
// store (raft-wal in DataDir/wal, or raft-boltdb/v2 in DataDir/raft.db for
// directories created with it), the file snapshot store
// (DataDir/snapshots) and the leadership observer. It offers:
//
//   - Apply: propose an opaque command and wait until it is applied;
//   - LinearizableRead and WaitApplied: make a local read of the state
//     machine linearizable (ReadIndex with a per-term leader barrier);
//   - Leader, IsLeader, LeaderChanged, TransferLeadership: leadership;
//   - Members, AddVoter, RemoveServer: membership;
//   - Status: a summary for health checks and metrics.
//
// Every blocking method takes a context: raft's timeouts are derived from
// its deadline and waits end when it does. Raft's errors are translated into
// this package's (ErrNotLeader, *NotLeaderError, ErrNoLeader,
// ErrOutcomeUnknown, ErrNotProposed, ErrShutdown), so no package above
// raftnode needs to import hashicorp/raft. Logging goes to the *slog.Logger
// in Config; raft's hclog output is bridged to it.
//
// Commands cross this package as []byte and are never decoded here. It must
// never import store, rpc or proto/kvpb: the state machine is reached only
// through the StateMachine interface declared here.
//
// See DESIGN.md for read consistency, leader readiness, failover and the
// snapshot-restore-on-start decision. Test helpers live in raftnodetest.
package raftnode
