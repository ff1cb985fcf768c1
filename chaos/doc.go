// Package chaos is raftkv's fault-injection harness. It runs a cluster of
// real kvd processes, each in its own Linux network namespace joined to the
// others by a private bridge, drives it with concurrent clients while a
// seeded nemesis kills, pauses, partitions and slows nodes, and then checks
// what the clients saw:
//
//   - the history of every get, put, delete and compare-and-swap (invoke
//     and return times, writes of unknown outcome marked as such) is
//     linearizable per key, checked with porcupine; a swap of unknown
//     outcome may take effect only where its comparison holds;
//   - every acknowledged write is still readable after the cluster heals,
//     or was superseded by a write that may have come after it;
//   - no read returned a value that no write could have produced, or that
//     only a write the client reported as failed produced;
//   - every STALE get (raw gRPC to one node) returned a value that existed
//     at the applied index its response header claims, judged by the raft
//     indexes of acknowledged writes;
//   - every replica converges to the same applied index and the same
//     content (hashed from STALE List reads served by each node).
//
// A run is reproducible from its seed: the fault schedule and every client's
// choice of operations come from math/rand/v2 generators seeded from it (the
// cluster's timing is of course not). On failure the run writes porcupine's
// HTML visualization, the history as JSON, the fault log and every node's
// log to an artifact folder.
//
// The harness needs root, iproute2 (ip netns), iptables and, for slow-link
// faults, tc. Traffic stays on loopback and on the run's own bridge, whose
// /24 (10.213.X.0/24) is picked per run so that runs can proceed in parallel.
//
// chaos is a test harness: it imports the client, proto/kvpb and gRPC, never
// the server packages (store, raftnode, rpc, server), so what it checks is
// what a user of the real binaries would see.
package chaos
