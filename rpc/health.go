package rpc

import (
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Health service names, so that a gateway, load balancer or Kubernetes probe
// can route by role without raftkv's client:
//
//	""                 SERVING while this node knows a leader and has applied
//	                   everything it knows to be committed (ready)
//	kv.v1.KV           the same
//	kv.v1.KV.Leader    SERVING only on the leader
//	kv.v1.KV/write     SERVING while a write sent here could commit: a
//	                   leader is known and the node is not degraded
//	kv.v1.KV/read-stale SERVING whenever local data is readable, including
//	                   in degraded mode (quorum lost)
const (
	OverallService   = ""
	KVService        = "kv.v1.KV"
	LeaderService    = "kv.v1.KV.Leader"
	WriteService     = "kv.v1.KV/write"
	StaleReadService = "kv.v1.KV/read-stale"
)

// healthPoll bounds how stale the health status can be when no leadership
// change wakes the watcher (catching up after a restart, for example).
const healthPoll = 250 * time.Millisecond

// watchHealth keeps the health service truthful until Close.
func (s *Server) watchHealth() {
	for {
		wake := s.node.LeaderChanged()
		s.updateHealth()
		select {
		case <-s.done:
			return
		case <-wake:
		case <-time.After(healthPoll):
		}
	}
}

func (s *Server) updateHealth() {
	serving := servingIf(s.Ready())
	st := s.node.Status()
	s.health.SetServingStatus(OverallService, serving)
	s.health.SetServingStatus(KVService, serving)
	s.health.SetServingStatus(LeaderService, servingIf(st.Role == "leader"))
	s.health.SetServingStatus(WriteService, servingIf(st.LeaderID != "" && !st.Degraded && st.Role != "shutdown"))
	s.health.SetServingStatus(StaleReadService, servingIf(st.Role != "shutdown"))
}

func servingIf(ok bool) healthpb.HealthCheckResponse_ServingStatus {
	if ok {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

// Ready reports whether the overall health status is SERVING, for the HTTP
// admin endpoint.
func (s *Server) Ready() bool {
	st := s.node.Status()
	return st.LeaderID != "" && st.Role != "shutdown" && s.node.AppliedIndex() >= st.CommitIndex
}
