package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/raftkv/raftkv/client"
)

// memberStatusTimeout bounds the Status call to each member in /v1/status,
// so that one dead member does not hold up the answer about the others.
const memberStatusTimeout = 2 * time.Second

// statusJSON is the answer of GET /v1/status. Field names follow kvd's own
// /status and /api/cluster (snake_case), not Consul's KV entries.
type statusJSON struct {
	LeaderID string       `json:"leader_id"`
	Members  []memberJSON `json:"members"`
}

// memberJSON is one member: its configuration, and either its own view of
// its raft state or why it did not answer.
type memberJSON struct {
	ID       string          `json:"id"`
	GRPCAddr string          `json:"grpc_addr"`
	RaftAddr string          `json:"raft_addr"`
	Voter    bool            `json:"voter"`
	Leader   bool            `json:"leader"`
	Status   *nodeStatusJSON `json:"status,omitempty"`
	Error    *errorBody      `json:"error,omitempty"`
}

// nodeStatusJSON is a member's answer to Status.
type nodeStatusJSON struct {
	Role          string `json:"role"`
	Term          uint64 `json:"term"`
	LastLogIndex  uint64 `json:"last_log_index"`
	CommitIndex   uint64 `json:"commit_index"`
	AppliedIndex  uint64 `json:"applied_index"`
	LeaderID      string `json:"leader_id"`
	LeaderKnown   bool   `json:"leader_known"`
	LastContactMs int64  `json:"last_contact_ms"`
	Degraded      bool   `json:"degraded"`
}

// serveStatus answers GET /v1/status: the membership, then every member's
// own status, asked in parallel. A member that does not answer is listed
// with an error; the answer is 200 as long as the membership is known.
func (g *Gateway) serveStatus(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	ctx, cancel := g.requestContext(r)
	defer cancel()
	members, err := g.kv.Members(ctx)
	if err != nil {
		g.fail(w, r, info, err)
		return
	}
	out := statusJSON{Members: make([]memberJSON, len(members))}
	var wg sync.WaitGroup
	for i, m := range members {
		out.Members[i] = memberJSON{ID: m.ID, GRPCAddr: m.GRPCAddr, RaftAddr: m.RaftAddr, Voter: m.Voter, Leader: m.Leader}
		if m.Leader {
			out.LeaderID = m.ID
		}
		if m.GRPCAddr == "" {
			out.Members[i].Error = &errorBody{Code: codeUnavailable, Message: "the member has not registered its client address yet"}
			continue
		}
		wg.Go(func() {
			mctx, mcancel := context.WithTimeout(ctx, memberStatusTimeout)
			defer mcancel()
			st, err := g.kv.Status(mctx, m.GRPCAddr)
			if err != nil {
				e := toAPIError(err)
				out.Members[i].Error = &errorBody{Code: e.code, Message: e.msg}
				return
			}
			out.Members[i].Status = statusFrom(st)
		})
	}
	wg.Wait()
	writeJSONStatus(w, http.StatusOK, out)
}

func statusFrom(st *client.Status) *nodeStatusJSON {
	return &nodeStatusJSON{
		Role:          st.Role,
		Term:          st.Term,
		LastLogIndex:  st.LastLogIndex,
		CommitIndex:   st.CommitIndex,
		AppliedIndex:  st.AppliedIndex,
		LeaderID:      st.Header.LeaderID,
		LeaderKnown:   st.Header.LeaderKnown,
		LastContactMs: lastContactMillis(st.LastContact),
		Degraded:      st.Header.Degraded,
	}
}
