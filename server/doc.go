// Package server assembles one raftkv node — the bbolt store, the raft node,
// the gRPC API and the HTTP admin endpoint — and runs it until Close.
//
// It is the only place where store, raftnode and rpc meet, so that cmd/kvd
// (which parses flags into a Config) and in-process cluster tests build nodes
// in exactly the same way, as etcd's embed package does for etcd.
package server
