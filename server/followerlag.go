package server

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// followerLagDesc is raftkv_follower_lag_entries: on the leader, how many
// log entries each other member is behind (the leader's last log index
// minus the member's applied index). -1 marks a member that did not answer.
var followerLagDesc = prometheus.NewDesc(
	"raftkv_follower_lag_entries",
	"On the leader: log entries each other member is behind (leader last log index minus the member's applied index); -1 if the member did not answer. Absent on followers.",
	[]string{"peer_id"}, nil,
)

// followerLagTimeout bounds the whole fan-out of one scrape.
const followerLagTimeout = time.Second

// followerLag is a collector that, on the leader only, asks every other
// member for its status at scrape time. hashicorp/raft does not expose its
// per-follower match index, so this measures what operators care about —
// how far each replica's readable data is behind — through the same
// Cluster.Status RPC kvctl uses.
type followerLag struct{ s *Server }

// Describe implements prometheus.Collector.
func (f followerLag) Describe(ch chan<- *prometheus.Desc) { ch <- followerLagDesc }

// Collect implements prometheus.Collector.
func (f followerLag) Collect(ch chan<- prometheus.Metric) {
	if !f.s.node.IsLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), followerLagTimeout)
	defer cancel()
	last := f.s.node.Status().LastLogIndex
	members, err := f.s.node.Members(ctx)
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, m := range members {
		if string(m.ID) == f.s.ID() {
			continue
		}
		mv := &memberView{}
		mv.ID = string(m.ID)
		if meta, ok := f.s.st.NodeMeta(mv.ID); ok {
			mv.GRPCAddr = meta.GRPCAddr
		}
		wg.Go(func() {
			lag := -1.0
			if mv.GRPCAddr != "" {
				f.s.peerStatus(ctx, mv)
				if mv.Reachable {
					lag = float64(last - min(last, mv.AppliedIndex))
				}
			}
			ch <- prometheus.MustNewConstMetric(followerLagDesc, prometheus.GaugeValue, lag, mv.ID)
		})
	}
	wg.Wait()
}
