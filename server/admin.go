package server

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// adminMux serves the node's HTTP admin endpoints on a mux of its own (never
// http.DefaultServeMux), following the Kubernetes probe conventions:
//
//	/livez   200 while the process runs and the store is readable; it does
//	         not depend on quorum, so an orchestrator never restarts a
//	         healthy node because its peers are down.
//	/readyz  200 while a leader is known and this node has applied all it
//	         knows to be committed; 503 otherwise.
//	/status  this node's raft state as JSON.
func (s *Server) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		if _, _, err := s.st.List(nil, 1); err != nil {
			http.Error(w, fmt.Sprintf("store not readable: %v", err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.api.Ready() {
			http.Error(w, "not ready: no known leader or not caught up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		st := s.node.Status()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id":             st.ID,
			"grpc_addr":      s.GRPCAddr(),
			"raft_addr":      st.RaftAddr,
			"role":           st.Role,
			"voter":          st.Voter,
			"term":           st.Term,
			"last_log_index": st.LastLogIndex,
			"commit_index":   st.CommitIndex,
			"applied_index":  s.st.AppliedIndex(),
			"leader_id":      st.LeaderID,
			"last_contact":   st.LastContact.String(),
		})
	})
	return mux
}
