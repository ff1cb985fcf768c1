package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// memberCmd is `kvctl member` and its subcommands.
func (a *app) memberCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member",
		Short: "Inspect cluster membership",
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
	return cmd
}
