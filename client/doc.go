// Package client is the Go client of raftkv.
//
// A [Client] is built from a [Config] holding one or more member addresses.
// From any reachable member it learns the whole membership (the Members RPC)
// and the leader (the leader_addr of every response header), keeps one gRPC
// connection per address, and sends writes and linearizable reads straight
// to the leader. When the leader changes or dies it follows NOT_LEADER hints
// and cycles through the known members with jittered backoff until a new
// leader answers, always within the caller's context deadline. Writes are
// retried like reads, because the cluster applies each of them exactly once
// (see Guarantees). A call whose context has no deadline gets
// [Config.RequestTimeout] (30s by default) as its overall budget.
//
// # Read consistency
//
// Get and List take [ReadOption]s; [Config.DefaultConsistency] sets the
// level of calls that choose none.
//
//	level         guarantee                              served by       cost
//	Linearizable  sees every write acknowledged before   the leader      a leadership check
//	(default)     the read started                                       on the leader
//	Stale         may miss other clients' recent writes  any member      none: local data
//	Bounded       as Stale, but the member must have     any member, or  none, but members
//	              heard from a leader within the bound   another one     may refuse
//
// Read-your-writes is on by default for Stale and Bounded reads: the client
// remembers the highest raft index it has seen (the index of its writes and
// the applied index of its linearizable reads) and sends it as min_index, so
// a member serves the read only once it has applied it. A member that cannot
// catch up within about a second refuses, and the client tries another. The
// guarantee holds per Client, not across clients or processes; stale reads
// are not monotonic across members beyond that index.
// [WithoutReadYourWrites] turns it off for one read.
//
// # Load balancing
//
// Stale and bounded reads are spread over all members, the leader included,
// by a power-of-two-choices balancer weighted away from members whose
// applied index lags and from members that failed recently (see balance.go
// for the algorithm). A member that fails a read (unreachable, shutting down,
// too stale) is ejected for a backoff of [Config.EjectBackoff] doubling to
// [Config.EjectBackoffMax], and the read is retried on another member at
// once, within the caller's context; stale reads are idempotent. When the
// backoff ends the member is probed in the background with a Status call and
// returns to the rotation only if it answers. The membership is refreshed by
// a goroutine every [Config.MemberRefresh] and after failures, so added
// members receive reads and removed ones stop receiving them. The configured
// endpoints are used to discover the membership; reads go to the addresses
// the members advertise.
//
// # Degraded mode
//
// A member that has lost contact with a quorum answers writes and
// linearizable reads with NO_QUORUM at once. The client then tries every
// other known member once (it may be talking to a minority on the wrong side
// of a partition) and, if none can serve, returns a [*NoQuorumError]
// (errors.Is [ErrNoQuorum]) naming since when the quorum is missing. Because
// members also report NO_QUORUM for a moment during an ordinary election,
// the client keeps retrying while the loss is younger than
// [Config.NoQuorumGrace] (1.5s by default), and no longer: it never waits
// for the deadline. Stale reads keep working, with Header.Degraded set;
// [WithDegradedReads] lets a linearizable read fall back to one.
//
// # Guarantees
//
//   - Writes are applied exactly once. Every write (Put, Delete,
//     CompareAndSwap, PutIf, DeleteIf) carries a request id: a random 128-bit
//     client id, fixed per Client, and a sequence number per write. The
//     cluster keeps each client's recent results in its replicated state
//     machine and answers a repeated request id with the stored result
//     instead of applying it again. So when the leader fails while
//     committing a write, or the connection drops after it was sent, the
//     client sends it again, with the same id, to the new leader, within
//     the caller's context. Only when the context ends while the outcome is
//     still unknown does the error wrap [ErrOutcomeUnknown]; the caller must
//     then decide, for example by reading the key back. Each request also
//     carries the lowest sequence number the client may still resend, so
//     the cluster forgets older results and refuses late copies of them.
//     Raw gRPC callers that send no request id get the old rule: the server
//     answers OUTCOME_UNKNOWN and never retries.
//   - CompareAndSwap and PutIf/DeleteIf are conditional writes checked by
//     the state machine in log order. A condition that does not hold is an
//     answer (swapped false, Succeeded false with the key's Current state),
//     not an error.
//   - Every read answer carries a [Header] saying which node served it, at
//     which consistency, how long since that node heard from a leader, and
//     whether it was degraded.
//   - Errors wrap the sentinels in errors.go ([ErrNotFound], [ErrNoLeader],
//     [ErrNoQuorum], [ErrStale], …), so callers use errors.Is and never import
//     gRPC status codes.
//
// A Client is safe for concurrent use. It owns one background goroutine
// (membership refresh) plus short-lived probes, all stopped by Close.
//
// This package imports only proto/kvpb, gRPC, protobuf, genproto errdetails
// and the standard library. It must never import the server packages (store,
// raftnode, rpc) or raft and bbolt: a user of the client must not pull them in.
package client
