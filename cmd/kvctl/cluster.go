package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/client"
)

// statusRow is one member's line in `cluster status`.
type statusRow struct {
	// Member is the member as listed by the cluster.
	Member client.Member
	// Status is the member's own report; nil when it did not answer.
	Status *client.Status
	// Err is why the member did not answer.
	Err error
	// Lag is the highest commit index among the members that answered minus
	// this member's applied index.
	Lag uint64
}

// clusterCmd is `kvctl cluster` and its subcommands.
func (a *app) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show every member's raft state",
		Long: `List the members, then ask each of them, concurrently, for its own raft
state: role, term, last log index, commit index, applied index, lag, time
since it last heard from a leader, and whether it is degraded. LAG is the
highest commit index seen across the members minus the member's applied
index. DEGRADED is true for a member that has lost contact with a quorum:
it refuses writes and linearizable reads and serves stale reads only.

A member that does not answer is shown with its error. A last line gives
the failure tolerance: healthy voters minus the quorum. The command exits 0
only if every member answered and is healthy (knows a leader, not degraded,
caught up), and 4 otherwise (the table is still printed).`,
		Example: "  kvctl cluster status -w table",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				ms, err := c.Members(ctx)
				if err != nil {
					return fmt.Errorf("list members: %w", err)
				}
				rows := clusterStatus(ctx, c, ms)
				if err := a.out.status(a.stdout, rows); err != nil {
					return err
				}
				health := make([]healthRow, len(rows))
				failed := 0
				for i, r := range rows {
					health[i] = healthRow{statusRow: r}
					if r.Err != nil {
						failed++
					}
				}
				t := clusterTolerance(health)
				if a.writeOut != "json" {
					if _, err := fmt.Fprintf(a.stdout, "voters: %d healthy of %d, quorum %d, failure tolerance %d\n",
						t.Healthy, t.Voters, t.Quorum, t.FailureTolerance); err != nil {
						return err
					}
				}
				switch {
				case failed > 0:
					return fmt.Errorf("%w: %d of %d members did not answer", client.ErrUnavailable, failed, len(rows))
				case countHealthy(health) != len(rows):
					return fmt.Errorf("%w: %d of %d members healthy (see kvctl cluster health)", client.ErrUnavailable, countHealthy(health), len(rows))
				}
				return nil
			})
		},
	})
	cmd.AddCommand(a.clusterHealthCmd())
	return cmd
}

// clusterStatus asks every member for its status concurrently and computes
// each one's lag.
func clusterStatus(ctx context.Context, c kvClient, ms []client.Member) []statusRow {
	rows := make([]statusRow, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		rows[i].Member = m
		if m.GRPCAddr == "" {
			rows[i].Err = errors.New("member has not registered a client address")
			continue
		}
		wg.Go(func() {
			rows[i].Status, rows[i].Err = c.Status(ctx, m.GRPCAddr)
		})
	}
	wg.Wait()
	var maxCommit uint64
	for _, r := range rows {
		if r.Status != nil {
			maxCommit = max(maxCommit, r.Status.CommitIndex)
		}
	}
	for i, r := range rows {
		if r.Status != nil && r.Status.AppliedIndex < maxCommit {
			rows[i].Lag = maxCommit - r.Status.AppliedIndex
		}
	}
	return rows
}
