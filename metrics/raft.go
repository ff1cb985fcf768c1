package metrics

import (
	"fmt"
	"strings"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
)

// RaftLatencyBuckets are the bounds, in seconds, of the raft timing
// histograms: 50 µs to about 1.6 s, from an in-memory apply to a slow
// fsync.
var RaftLatencyBuckets = prometheus.ExponentialBuckets(0.00005, 2, 16)

// raftTimers maps hashicorp/raft and raftnode timer keys (go-metrics
// samples in milliseconds) to the histogram that receives them.
var raftTimers = map[string]struct{ name, help string }{
	"raft.fsm.applyBatch":     {"raftkv_raft_fsm_apply_seconds", "Time to apply one batch of committed entries to the state machine, in one bbolt transaction (hashicorp/raft raft.fsm.applyBatch; raftkv uses the batching FSM)."},
	"raft.commitTime":         {"raftkv_raft_commit_seconds", "Leader only: time from dispatching an entry to its commit by a quorum (raft.commitTime)."},
	"raft.logstore.storeLogs": {"raftkv_raft_log_store_seconds", "Time to write and fsync a batch of entries to the raft log, raft-wal or raft-boltdb (raftnode's raft.logstore.storeLogs)."},
	"raft.snapshot.create":    {"raftkv_raft_snapshot_create_seconds", "Time to capture a state machine snapshot (raft.snapshot.create); its count is the number of snapshots taken."},
	"raft.snapshot.persist":   {"raftkv_raft_snapshot_persist_seconds", "Time to write a snapshot to disk (raft.snapshot.persist)."},
	"raft.fsm.restore":        {"raftkv_raft_snapshot_restore_seconds", "Time to restore the state machine from a snapshot (raft.fsm.restore)."},
	"raft.leader.appendWait":  {"raftkv_raft_leader_append_wait_seconds", "Leader only: time the state machine waited for the leader's own log write of entries followers had already made durable (the leader writes its log in parallel with replicating it); counted only when it waited."},
	"raft.rpc.appendEntries":  {"raftkv_raft_append_entries_rpc_seconds", "Follower only: time to handle an AppendEntries RPC (raft.rpc.appendEntries)."},
}

// RaftSink is a go-metrics sink that turns hashicorp/raft's telemetry into
// Prometheus metrics: the timers listed in raftTimers as histograms,
// per-follower replication RPC latency on the leader
// (raftkv_raft_replication_append_entries_seconds{peer_id}), role
// transitions (raftkv_raft_state_transitions_total{state}) and accepted
// proposals (raftkv_raft_apply_total). Everything else is dropped. It is a
// prometheus.Collector and safe for concurrent use.
//
// go-metrics is global to the process, so a RaftSink sees every raft
// instance in it: install it with InstallRaftSink only where one node runs
// per process (cmd/kvd).
type RaftSink struct {
	timers      map[string]prometheus.Histogram
	replication *prometheus.HistogramVec
	transitions *prometheus.CounterVec
	applies     prometheus.Counter
}

var _ gometrics.MetricSink = (*RaftSink)(nil)

// NewRaftSink returns a sink whose histograms and counters start empty.
func NewRaftSink() *RaftSink {
	s := &RaftSink{
		timers: make(map[string]prometheus.Histogram, len(raftTimers)),
		replication: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "raftkv_raft_replication_append_entries_seconds",
			Help:    "Leader only: AppendEntries RPC round trip to each follower (raft.replication.appendEntries.rpc).",
			Buckets: RaftLatencyBuckets,
		}, []string{"peer_id"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_raft_state_transitions_total",
			Help: "Times this node entered each raft state (raft.state.*).",
		}, []string{"state"}),
		applies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raftkv_raft_apply_total",
			Help: "Leader only: entries proposed to raft (raft.apply).",
		}),
	}
	for key, m := range raftTimers {
		s.timers[key] = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: m.name, Help: m.help, Buckets: RaftLatencyBuckets,
		})
	}
	for _, st := range []string{"follower", "candidate", "leader"} {
		s.transitions.WithLabelValues(st)
	}
	return s
}

// InstallRaftSink makes s the process-wide go-metrics sink, so that
// hashicorp/raft and raft-boltdb report to it. Call it once, from main,
// before starting the node. Host names, service prefixes and runtime
// metrics are off: keys arrive exactly as raft emits them.
func InstallRaftSink(s *RaftSink) error {
	cfg := gometrics.DefaultConfig("")
	cfg.EnableHostname = false
	cfg.EnableHostnameLabel = false
	cfg.EnableRuntimeMetrics = false
	cfg.EnableServiceLabel = false
	if _, err := gometrics.NewGlobal(cfg, s); err != nil {
		return fmt.Errorf("install raft metrics sink: %w", err)
	}
	return nil
}

// AddSample implements go-metrics' MetricSink. raft's timers are samples in
// milliseconds.
func (s *RaftSink) AddSample(key []string, val float32) {
	s.AddSampleWithLabels(key, val, nil)
}

// AddSampleWithLabels implements go-metrics' MetricSink.
func (s *RaftSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	k := strings.Join(key, ".")
	secs := float64(val) / 1000
	if h, ok := s.timers[k]; ok {
		h.Observe(secs)
		return
	}
	if k == "raft.replication.appendEntries.rpc" {
		for _, l := range labels {
			if l.Name == "peer_id" {
				s.replication.WithLabelValues(l.Value).Observe(secs)
			}
		}
	}
}

// IncrCounter implements go-metrics' MetricSink.
func (s *RaftSink) IncrCounter(key []string, val float32) {
	s.IncrCounterWithLabels(key, val, nil)
}

// IncrCounterWithLabels implements go-metrics' MetricSink.
func (s *RaftSink) IncrCounterWithLabels(key []string, val float32, _ []gometrics.Label) {
	switch {
	case len(key) == 3 && key[0] == "raft" && key[1] == "state":
		s.transitions.WithLabelValues(key[2]).Add(float64(val))
	case len(key) == 2 && key[0] == "raft" && key[1] == "apply":
		s.applies.Add(float64(val))
	}
}

// SetGauge implements go-metrics' MetricSink; raft's gauges are dropped.
func (s *RaftSink) SetGauge([]string, float32) {}

// SetGaugeWithLabels implements go-metrics' MetricSink; dropped.
func (s *RaftSink) SetGaugeWithLabels([]string, float32, []gometrics.Label) {}

// EmitKey implements go-metrics' MetricSink; dropped.
func (s *RaftSink) EmitKey([]string, float32) {}

// Describe implements prometheus.Collector.
func (s *RaftSink) Describe(ch chan<- *prometheus.Desc) {
	for _, h := range s.timers {
		h.Describe(ch)
	}
	s.replication.Describe(ch)
	s.transitions.Describe(ch)
	s.applies.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *RaftSink) Collect(ch chan<- prometheus.Metric) {
	for _, h := range s.timers {
		h.Collect(ch)
	}
	s.replication.Collect(ch)
	s.transitions.Collect(ch)
	s.applies.Collect(ch)
}
