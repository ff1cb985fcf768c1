package main

import (
	"context"

	"github.com/spf13/cobra"
)

// leaderCmd is `kvctl leader` and its subcommands.
func (a *app) leaderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leader",
		Short: "Manage cluster leadership",
		Args:  cobra.NoArgs,
	}
	var to string
	transfer := &cobra.Command{
		Use:   "transfer [--to <id>]",
		Short: "Hand leadership to another voter",
		Long: `Ask the leader to hand leadership to the voter --to, or without --to to the
most up-to-date voter, and wait until the transfer has finished, as before
maintenance on the leader's machine. Writes pause for about one round trip.
An unknown id fails with exit code 3, a non-voter with 7; naming the
current leader does nothing.`,
		Example: "  kvctl leader transfer --to n2",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				if err := c.TransferLeadership(ctx, to); err != nil {
					return err
				}
				msg := "leadership transferred"
				if to != "" {
					msg += " to " + to
				}
				return a.out.done(a.stdout, msg)
			})
		},
	}
	transfer.Flags().StringVar(&to, "to", "", "id of the voter to hand leadership to (default: the most up-to-date voter)")
	cmd.AddCommand(transfer)
	return cmd
}
