// Package store is raftkv's replicated state machine: a bbolt-backed
// key-value store that applies raft log entries, serves local reads and
// takes and restores snapshots.
//
// # What it owns
//
//   - The meaning of a log entry: the command constructors ([PutCommand],
//     [DeleteCommand], [CompareAndSwapCommand], [SetNodeMetaCommand], with
//     [WithRequestID] and [IfModIndex]) and the private decoder used by
//     [Store.Apply]. The wire schema lives in proto/fsmpb; this package gives
//     it semantics and limits ([MaxKeyBytes], [MaxValueBytes]).
//   - Exactly-once requests: a bounded, replicated table of recent results
//     per client, kept in the same bbolt file and transactions as the data
//     ([MaxSessions], [MaxSessionResults]).
//   - The bbolt file: bucket layout, the applied index kept in the same
//     transaction as the data, and the snapshot stream format.
//   - The read path ([Store.Get], [Store.List], [Store.NodeMeta]). Reads are
//     local: deciding whether a read is fresh enough (linearizable or stale)
//     is the caller's job, done before calling into the store.
//
// # What it must never import
//
// store imports only the standard library, go.etcd.io/bbolt,
// google.golang.org/protobuf and proto/fsmpb. It never imports raft, gRPC,
// networking code or other raftkv packages: raftnode adapts a *Store to
// raft's FSM interface, and rpc reads from it, each through interfaces they
// declare themselves. imports_test.go enforces this.
//
// # Failures
//
// Client-caused problems (a bad key that slipped past validation) come back
// in [Result.Err] and still advance the applied index, so every replica
// makes the same decision. An error returned by Apply itself (disk failure,
// [ErrCorruptEntry]) is fatal: the caller must stop the node. Nothing a
// client sends reaches a panic.
//
// See DESIGN.md for the bucket layout, the snapshot format and the
// applied-index rules.
package store
