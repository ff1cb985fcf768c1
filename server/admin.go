package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/raftkv/raftkv/metrics"
)

// adminMux serves the node's HTTP admin endpoints on a mux of its own (never
// http.DefaultServeMux):
//
//	/livez         200 while the process runs and the store is readable. It
//	               does not depend on quorum, so an orchestrator never
//	               restarts a healthy node because its peers are down
//	               (etcd#16007).
//	/readyz        200 while raft runs, a leader is known, the node is not
//	               degraded and it has applied all it knows to be committed;
//	               503 otherwise.
//	/status        this node's raft state as JSON.
//	/metrics       Prometheus metrics from the node's registry.
//	/api/cluster   every member's state as this node sees it (statuspage.go).
//	/              the status page.
//	/debug/pprof/  runtime profiles, only with Config.PprofEnabled.
//
// /livez and /readyz follow the Kubernetes convention: "ok" or a one-line
// reason; ?verbose lists every check as "[+]name ok" or "[-]name failed:
// reason"; ?exclude=name skips a check (repeatable).
func (s *Server) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /livez", healthHandler("livez", s.livezChecks()))
	mux.Handle("GET /readyz", healthHandler("readyz", s.readyzChecks()))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.localStatus())
	})
	mux.Handle("GET /metrics", metrics.Handler(s.mon.reg))
	s.statusPageRoutes(mux)
	if s.cfg.PprofEnabled {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// nodeStatus is the JSON of /status, and one member of /api/cluster.
type nodeStatus struct {
	ID           string `json:"id"`
	GRPCAddr     string `json:"grpc_addr"`
	RaftAddr     string `json:"raft_addr"`
	Role         string `json:"role"`
	Voter        bool   `json:"voter"`
	Term         uint64 `json:"term"`
	LastLogIndex uint64 `json:"last_log_index"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LeaderID     string `json:"leader_id"`
	// LastContact is a Go duration string, kept for scripts that read it.
	LastContact string `json:"last_contact"`
	// LastContactMs is the same in milliseconds: 0 on the leader, -1 if
	// never heard from a leader.
	LastContactMs int64 `json:"last_contact_ms"`
	// Degraded is known only for this node; peers report false (see
	// /api/cluster's degraded_known).
	Degraded      bool      `json:"degraded"`
	DegradedSince time.Time `json:"degraded_since,omitzero"`
}

func (s *Server) localStatus() nodeStatus {
	st := s.node.Status()
	ms := int64(-1)
	if st.LastContact >= 0 {
		ms = st.LastContact.Milliseconds()
	}
	return nodeStatus{
		ID:            string(st.ID),
		GRPCAddr:      s.GRPCAddr(),
		RaftAddr:      st.RaftAddr,
		Role:          st.Role,
		Voter:         st.Voter,
		Term:          st.Term,
		LastLogIndex:  st.LastLogIndex,
		CommitIndex:   st.CommitIndex,
		AppliedIndex:  s.st.AppliedIndex(),
		LeaderID:      string(st.LeaderID),
		LastContact:   st.LastContact.String(),
		LastContactMs: ms,
		Degraded:      st.Degraded,
		DegradedSince: st.DegradedSince,
	}
}

// check is one named health condition; nil means healthy.
type check struct {
	name string
	fn   func() error
}

func (s *Server) livezChecks() []check {
	return []check{
		{"store", func() error {
			if _, _, err := s.st.List(nil, 1); err != nil {
				return fmt.Errorf("store not readable: %w", err)
			}
			return nil
		}},
	}
}

func (s *Server) readyzChecks() []check {
	return []check{
		{"store", s.livezChecks()[0].fn},
		{"raft", func() error {
			if st := s.node.Status(); st.Role == "shutdown" {
				return fmt.Errorf("raft has shut down")
			}
			return nil
		}},
		{"leader", func() error {
			if id, _ := s.node.Leader(); id == "" {
				return fmt.Errorf("no known leader")
			}
			return nil
		}},
		{"quorum", func() error {
			if deg, since := s.node.Degraded(); deg {
				return fmt.Errorf("degraded: no contact with a quorum since %s", since.UTC().Format(time.RFC3339))
			}
			return nil
		}},
		{"caught-up", func() error {
			// raftnode's applied index counts every entry the FSM has
			// processed, including raft's no-op and configuration entries;
			// the store's counts data commands only, so it stays behind the
			// commit index after a restart's new-term no-op until the next
			// write.
			st := s.node.Status()
			commit, applied := st.CommitIndex, st.AppliedIndex
			if commit > applied && commit-applied > readyMaxLag {
				return fmt.Errorf("applied index %d behind commit index %d by more than %d entries", applied, commit, readyMaxLag)
			}
			return nil
		}},
	}
}

// readyMaxLag is how many committed entries a ready node may not have
// applied yet. Under write load the state machine always trails the commit
// index by a batch or two; demanding applied == commit made busy nodes flap
// out of load balancers. Consul's autopilot allows 250 (MaxTrailingLogs),
// and so does kvctl cluster health.
const readyMaxLag = 250

// healthHandler runs checks for a Kubernetes-style probe endpoint.
func healthHandler(name string, checks []check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		_, verbose := q["verbose"]
		excluded := map[string]bool{}
		for _, e := range q["exclude"] {
			excluded[strings.TrimSpace(e)] = true
		}
		var b strings.Builder
		var failed []string
		for _, c := range checks {
			if excluded[c.name] {
				fmt.Fprintf(&b, "[+]%s excluded: ok\n", c.name)
				continue
			}
			if err := c.fn(); err != nil {
				failed = append(failed, c.name)
				fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, err)
				continue
			}
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		switch {
		case len(failed) > 0:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, b.String())
			fmt.Fprintf(w, "%s check failed: %s\n", name, strings.Join(failed, ","))
		case verbose:
			fmt.Fprint(w, b.String())
			fmt.Fprintf(w, "%s check passed\n", name)
		default:
			fmt.Fprintln(w, "ok")
		}
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
