package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftkv/raftkv/metrics"
)

// monitoring is a node's metrics: its registry and the collectors that
// need wiring into the gRPC server or a lifecycle.
type monitoring struct {
	reg    *prometheus.Registry
	grpc   *metrics.GRPC
	leader *metrics.LeaderTracker
}

// newMonitoring registers the node's collectors on cfg.Registry (or a fresh
// registry). It runs after the node and store exist and before the gRPC
// server is built, so the interceptors can be installed.
func (s *Server) newMonitoring() (*monitoring, error) {
	reg := s.cfg.Registry
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	m := &monitoring{reg: reg, grpc: metrics.NewGRPC(), leader: metrics.NewLeaderTracker(s.node)}
	raftDir := s.cfg.raftConfig().DataDir
	cs := []prometheus.Collector{
		m.grpc,
		m.leader,
		followerLag{s},
		admissionGauges{s},
		batchCounters{s},
		storeCommits{s},
		metrics.NewNodeCollector(s.node, metrics.Files{
			StorePath:   s.st.Path(),
			RaftLogPath: s.node.LogStorePath(),
			SnapshotDir: raftDir,
		}),
	}
	if s.cfg.RaftMetrics != nil {
		cs = append(cs, s.cfg.RaftMetrics)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.leader.Start()
	return m, nil
}

// close stops the leader tracker; the registry needs no cleanup.
func (m *monitoring) close() {
	if m != nil {
		m.leader.Close()
	}
}
