// Package rpc serves raftkv's gRPC API (kv.v1.KV and kv.v1.Cluster) on top
// of a consensus node and a local state-machine reader.
//
// It owns request validation, forwarding of writes and linearizable reads
// from followers to the leader, the single translation of domain errors to
// gRPC statuses (toStatus), the grpc.health.v1 status of the node and the
// node's self-registration of its client address in replicated metadata.
//
// rpc reaches consensus and storage only through the small interfaces it
// declares (Consensus, Reader). It never imports hashicorp/raft: raftnode
// translates raft's errors into its own before they arrive here.
package rpc
