package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/client"
)

// healthRow is one member's verdict in `cluster health`.
type healthRow struct {
	statusRow
	// Took is how long the member took to answer.
	Took time.Duration
}

// healthy reports whether the member answered, knows a leader, is not
// degraded and has applied what it knows to be committed.
func (r healthRow) healthy() bool {
	s := r.Status
	return r.Err == nil && s != nil && s.Header.LeaderKnown && !s.Header.Degraded && !behind(s)
}

// healthyMaxLag is how many committed entries a member may not have applied
// yet and still count as caught up. Under write load the state machine is
// always a batch or two behind the commit index, so "applied == commit"
// would call a busy, healthy cluster unavailable; Consul's autopilot draws
// the same line at 250 entries (MaxTrailingLogs).
const healthyMaxLag = 250

// behind reports whether a member trails its commit index by more than
// healthyMaxLag entries.
func behind(s *client.Status) bool {
	return s.CommitIndex > s.AppliedIndex && s.CommitIndex-s.AppliedIndex > healthyMaxLag
}

// verdict explains healthy in a few words.
func (r healthRow) verdict() string {
	switch s := r.Status; {
	case r.Err != nil:
		return "unreachable: " + r.Err.Error()
	case s.Header.Degraded:
		return "degraded: no quorum (serves stale reads only)"
	case !s.Header.LeaderKnown:
		return "no known leader"
	case behind(s):
		return fmt.Sprintf("catching up: applied %d of %d committed", s.AppliedIndex, s.CommitIndex)
	}
	return "healthy: " + r.Status.Role
}

// tolerance summarises the voters: how many are healthy, the quorum, and
// how many more voters the cluster can lose and still commit writes.
type tolerance struct {
	Voters, Healthy, Quorum, FailureTolerance int
}

func clusterTolerance(rows []healthRow) tolerance {
	var t tolerance
	for _, r := range rows {
		if !r.Member.Voter {
			continue
		}
		t.Voters++
		if r.healthy() {
			t.Healthy++
		}
	}
	t.Quorum = t.Voters/2 + 1
	t.FailureTolerance = t.Healthy - t.Quorum
	return t
}

// clusterHealthCmd is `kvctl cluster health`, etcdctl's `endpoint health`
// habit: one line per member, then the failure tolerance.
func (a *app) clusterHealthCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Check every member's health, one line each",
		Long: `Ask every member for its state and print one line per member: healthy when
it answered, knows a leader, is not degraded and has applied everything it
knows to be committed. The last line gives the failure tolerance: healthy
voters minus the quorum, i.e. how many more voters the cluster can lose and
still accept writes (negative: writes are refused now).

Exits 0 when every member is healthy, 4 otherwise.`,
		Example: "  kvctl cluster health\n  kvctl cluster health -w json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				ms, err := c.Members(ctx)
				if err != nil {
					return fmt.Errorf("list members: %w", err)
				}
				rows := clusterHealth(ctx, c, ms)
				t := clusterTolerance(rows)
				if err := printHealth(a.stdout, a.writeOut, rows, t); err != nil {
					return err
				}
				if countHealthy(rows) != len(rows) {
					return fmt.Errorf("%w: %d of %d members healthy; failure tolerance %d",
						client.ErrUnavailable, countHealthy(rows), len(rows), t.FailureTolerance)
				}
				return nil
			})
		},
	}
}

// clusterHealth is clusterStatus with each member's answer time.
func clusterHealth(ctx context.Context, c kvClient, ms []client.Member) []healthRow {
	timed := &timingClient{kvClient: c, took: make(map[string]time.Duration)}
	status := clusterStatus(ctx, timed, ms)
	rows := make([]healthRow, len(status))
	for i, r := range status {
		rows[i] = healthRow{statusRow: r, Took: timed.tookFor(r.Member.GRPCAddr)}
	}
	return rows
}

func countHealthy(rows []healthRow) int {
	n := 0
	for _, r := range rows {
		if r.healthy() {
			n++
		}
	}
	return n
}

func printHealth(w io.Writer, format string, rows []healthRow, t tolerance) error {
	if format == "json" {
		type jsonHealth struct {
			ID       string `json:"id"`
			Endpoint string `json:"endpoint"`
			Healthy  bool   `json:"healthy"`
			TookMs   int64  `json:"took_ms"`
			Detail   string `json:"detail"`
		}
		out := struct {
			Members []jsonHealth `json:"members"`
			tolerance
		}{Members: []jsonHealth{}, tolerance: t}
		for _, r := range rows {
			out.Members = append(out.Members, jsonHealth{r.Member.ID, r.Member.GRPCAddr, r.healthy(), r.Took.Milliseconds(), r.verdict()})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(w, "%s (%s) is %s, took %v\n", r.Member.GRPCAddr, r.Member.ID, r.verdict(), r.Took.Round(time.Microsecond)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "voters: %d healthy of %d, quorum %d, failure tolerance %d\n", t.Healthy, t.Voters, t.Quorum, t.FailureTolerance)
	return err
}

// timingClient records how long each Status call took.
type timingClient struct {
	kvClient
	mu   sync.Mutex // guards took
	took map[string]time.Duration
}

// Status implements kvClient, timing the call.
func (t *timingClient) Status(ctx context.Context, endpoint string) (*client.Status, error) {
	start := time.Now()
	st, err := t.kvClient.Status(ctx, endpoint)
	t.mu.Lock()
	t.took[endpoint] = time.Since(start)
	t.mu.Unlock()
	return st, err
}

func (t *timingClient) tookFor(endpoint string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.took[endpoint]
}
