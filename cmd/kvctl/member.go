package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// memberCmd is `kvctl member` and its subcommands.
func (a *app) memberCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member",
		Short: "List, add, promote and remove cluster members",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the servers in the cluster's raft configuration",
		Long: `List every server in the cluster's raft configuration: its id, client gRPC
address, raft address, whether it votes and whether it leads.`,
		Example: "  kvctl member list -w table",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				ms, err := c.Members(ctx)
				if err != nil {
					return fmt.Errorf("list members: %w", err)
				}
				return a.out.members(a.stdout, ms)
			})
		},
	})
	cmd.AddCommand(a.memberAddCmd(), a.memberRemoveCmd(), a.memberPromoteCmd())
	return cmd
}

// memberAddCmd is `kvctl member add`.
func (a *app) memberAddCmd() *cobra.Command {
	var raftAddr, grpcAddr string
	var nonvoter bool
	cmd := &cobra.Command{
		Use:   "add <id> --raft-addr host:port --grpc-addr host:port [--nonvoter]",
		Short: "Add a node to the cluster as a voter or a non-voter",
		Long: `Add the node <id> to the cluster's raft configuration: as a voter, or with
--nonvoter as a non-voting read replica (it replicates everything and serves
stale reads, but does not vote or count towards quorum). The node must be
running kvd without --bootstrap. Adding a member again with the same
addresses does nothing; changed addresses are updated. A voter is never
demoted: adding it with --nonvoter fails with exit code 7.

Nodes started with kvd --join add themselves; this command is for operators.`,
		Example: "  kvctl member add n4 --raft-addr 127.0.0.1:7104 --grpc-addr 127.0.0.1:7004 --nonvoter",
		Args:    exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if raftAddr == "" || grpcAddr == "" {
				return usageError{errors.New("--raft-addr and --grpc-addr are required")}
			}
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				if err := c.AddMember(ctx, args[0], raftAddr, grpcAddr, nonvoter); err != nil {
					return fmt.Errorf("add member %s: %w", args[0], err)
				}
				return a.out.done(a.stdout, "member "+args[0]+" added")
			})
		},
	}
	cmd.Flags().StringVar(&raftAddr, "raft-addr", "", "the node's raft address (required)")
	cmd.Flags().StringVar(&grpcAddr, "grpc-addr", "", "the node's client gRPC address (required)")
	cmd.Flags().BoolVar(&nonvoter, "nonvoter", false, "add the node as a non-voter (read replica)")
	return cmd
}

// memberRemoveCmd is `kvctl member remove`.
func (a *app) memberRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove <id>",
		Aliases: []string{"rm"},
		Short:   "Remove a member from the cluster",
		Long: `Remove <id> from the cluster's raft configuration. The removed node stops
taking part in consensus; to bring it back, wipe its data directory and
start it with --join. Removing the leader makes it step down first. An
unknown id fails with exit code 3, removing the last voter with 7.`,
		Example: "  kvctl member remove n3",
		Args:    exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				if err := c.RemoveMember(ctx, args[0]); err != nil {
					return fmt.Errorf("remove member %s: %w", args[0], err)
				}
				return a.out.done(a.stdout, "member "+args[0]+" removed")
			})
		},
	}
}

// memberPromoteCmd is `kvctl member promote`.
func (a *app) memberPromoteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "promote <id>",
		Short: "Make a non-voter a voter",
		Long: `Make the non-voter <id> a voter. Promote a replica only once it has caught
up (see "kvctl cluster status", column LAG): a lagging voter can slow
commits. Promoting a voter does nothing; an unknown id fails with exit
code 3. kvd --target-voters promotes caught-up non-voters automatically.`,
		Example: "  kvctl member promote n4",
		Args:    exactArgs("id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				if err := c.PromoteMember(ctx, args[0]); err != nil {
					return fmt.Errorf("promote member %s: %w", args[0], err)
				}
				return a.out.done(a.stdout, "member "+args[0]+" promoted")
			})
		},
	}
}
