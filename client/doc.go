// Package client is the Go client of raftkv.
//
// A [Client] is built from a [Config] holding one or more member addresses.
// From any reachable member it learns the whole membership (the Members RPC)
// and the leader (the leader_addr of every response header), keeps one gRPC
// connection per address, and sends writes, Gets and Lists straight to the
// leader. When the leader changes or dies it follows NOT_LEADER hints and
// cycles through the known members with jittered backoff until a new leader
// answers, always within the caller's context deadline. A call whose context
// has no deadline gets [Config.RequestTimeout] (30s by default) as its overall
// budget.
//
// # Guarantees
//
//   - Get and List are linearizable: they are served by the leader after a
//     read barrier on the server.
//   - Writes are applied at most once by this client. A write is retried only
//     when it provably did not take effect (the node was not the leader, had no
//     leader, did not propose it, was shutting down, or the request never left
//     the client). When a write may or may not have been applied, the error
//     wraps [ErrOutcomeUnknown] and the write is never retried: the caller must
//     decide, for example by reading the key back.
//   - Errors wrap the sentinels in errors.go ([ErrNotFound], [ErrNoLeader], …),
//     so callers use errors.Is and never import gRPC status codes.
//
// A Client is safe for concurrent use.
//
// This package imports only proto/kvpb, gRPC, protobuf, genproto errdetails
// and the standard library. It must never import the server packages (store,
// raftnode, rpc) or raft and bbolt: a user of the client must not pull them in.
package client
