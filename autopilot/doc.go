// Package autopilot keeps the raft configuration in shape from the leader,
// in the spirit of Consul's autopilot: it promotes caught-up, stable
// non-voters while the cluster has fewer voters than a target, and removes
// members the leader has not heard from for a configured time.
//
// It owns one loop and no state that outlives leadership. It depends on
// raftnode's types through the small Consensus interface and asks members
// for their applied index through a Prober, so it imports neither gRPC nor
// hashicorp/raft. Both jobs are off by default.
package autopilot
