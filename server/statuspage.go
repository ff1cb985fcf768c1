package server

import (
	"context"
	"embed"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/metrics"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/rpc"
)

// ui holds the status page: plain HTML, CSS and JS with no build step.
//
//go:embed ui
var ui embed.FS

// peerStatusTimeout bounds the Status call to each peer made for
// /api/cluster, so a dead member shows as unreachable instead of stalling
// the page.
const peerStatusTimeout = time.Second

// clusterView is the JSON of /api/cluster: every member as this node sees
// it. Admin HTTP addresses are not replicated, so peers are asked over
// their client gRPC address (Cluster.Status), which membership does
// replicate.
type clusterView struct {
	// Node is the id of the node that answered.
	Node string `json:"node"`
	// Time is when the view was taken.
	Time time.Time `json:"time"`
	// LeaderID is the leader as the answering node knows it.
	LeaderID string `json:"leader_id"`
	// KVRequests counts kv.v1.KV requests this node has completed; the
	// page plots its rate as ops/s.
	KVRequests uint64 `json:"kv_requests_total"`
	// Members lists the configuration in raft's order.
	Members []memberView `json:"members"`
	// LeaderChanges are the most recent changes this node saw, oldest
	// first.
	LeaderChanges []metrics.LeaderChange `json:"leader_changes"`
}

// memberView is one member: its status if it answered, or why not.
type memberView struct {
	nodeStatus
	// Reachable is false when the member did not answer; Error says why.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Self marks the answering node, whose degraded state is exact; for
	// peers it is inferred from their role and last leader contact.
	Self bool `json:"self"`
}

func (s *Server) statusPageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/cluster", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.clusterView(r.Context()))
	})
	mux.Handle("GET /ui/", http.FileServerFS(ui))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, ui, "ui/index.html")
	})
}

func (s *Server) clusterView(ctx context.Context) clusterView {
	leaderID, _ := s.node.Leader()
	v := clusterView{
		Node:          s.ID(),
		Time:          time.Now(),
		LeaderID:      string(leaderID),
		KVRequests:    s.mon.grpc.Handled(kvpb.KV_ServiceDesc.ServiceName),
		LeaderChanges: s.mon.leader.Recent(),
	}
	members, err := s.node.Members(ctx)
	if err != nil {
		self := memberView{nodeStatus: s.localStatus(), Reachable: true, Self: true}
		v.Members = []memberView{self}
		return v
	}
	v.Members = make([]memberView, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if string(m.ID) == s.ID() {
			v.Members[i] = memberView{nodeStatus: s.localStatus(), Reachable: true, Self: true}
			continue
		}
		mv := &v.Members[i]
		mv.ID, mv.RaftAddr, mv.Voter = string(m.ID), m.RaftAddr, m.Voter
		meta, ok := s.st.NodeMeta(string(m.ID))
		if !ok || meta.GRPCAddr == "" {
			mv.Error = "client address not yet replicated"
			continue
		}
		mv.GRPCAddr = meta.GRPCAddr
		wg.Go(func() { s.peerStatus(ctx, mv) })
	}
	wg.Wait()
	return v
}

// peerStatus fills mv from the member's Cluster.Status RPC.
func (s *Server) peerStatus(ctx context.Context, mv *memberView) {
	ctx, cancel := context.WithTimeout(ctx, peerStatusTimeout)
	defer cancel()
	cc, err := grpc.NewClient(mv.GRPCAddr, grpc.WithTransportCredentials(rpc.PeerCredentials(s.tls.peerDial)))
	if err != nil {
		mv.Error = err.Error()
		return
	}
	defer cc.Close()
	st, err := kvpb.NewClusterClient(cc).Status(ctx, &kvpb.StatusRequest{})
	if err != nil {
		mv.Error = err.Error()
		return
	}
	mv.Reachable = true
	mv.Role, mv.Term = st.GetRole(), st.GetTerm()
	mv.LastLogIndex, mv.CommitIndex, mv.AppliedIndex = st.GetLastLogIndex(), st.GetCommitIndex(), st.GetAppliedIndex()
	mv.LeaderID = st.GetHeader().GetLeaderId()
	mv.LastContactMs = st.GetLastContactMs()
	mv.LastContact = (time.Duration(mv.LastContactMs) * time.Millisecond).String()
	if mv.LastContactMs < 0 {
		mv.LastContact = "-1ns" // the same "never" as raftnode.Status renders
	}
	mv.Degraded = st.GetHeader().GetDegraded()
}
