package rpc

import (
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Health service names. The overall service "" is SERVING while this node
// knows a leader and has applied everything it knows to be committed;
// LeaderService is SERVING only on the leader, so a probe or load balancer
// can find it.
const (
	OverallService = ""
	KVService      = "kv.v1.KV"
	LeaderService  = "kv.v1.KV.Leader"
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
	serving := healthpb.HealthCheckResponse_NOT_SERVING
	if s.Ready() {
		serving = healthpb.HealthCheckResponse_SERVING
	}
	leader := healthpb.HealthCheckResponse_NOT_SERVING
	if s.node.Status().Role == "leader" {
		leader = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus(OverallService, serving)
	s.health.SetServingStatus(KVService, serving)
	s.health.SetServingStatus(LeaderService, leader)
}

// Ready reports whether the overall health status is SERVING, for the HTTP
// admin endpoint.
func (s *Server) Ready() bool {
	st := s.node.Status()
	return st.LeaderID != "" && st.Role != "shutdown" && s.reader.AppliedIndex() >= st.CommitIndex
}
