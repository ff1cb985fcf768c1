package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/client"
)

// delCmd is `kvctl del <key> [--mod-index N]`.
func (a *app) delCmd() *cobra.Command {
	var modIndex uint64
	cmd := &cobra.Command{
		Use:     "del <key>",
		Aliases: []string{"delete"},
		Short:   "Delete a key",
		Long: `Delete a key on the leader. Prints 1 if the key existed and 0 if it did not
(deleting a missing key is not an error).

With --mod-index N the delete happens only if the key's mod index is N;
otherwise nothing is deleted and kvctl exits with code 6. Exit code 5 means
the command timed out while the outcome was still unknown.`,
		Example: `  kvctl del greeting
  kvctl del lock/owner --mod-index 42   # only if unchanged since index 42`,
		Args: exactArgs("key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			conditional := cmd.Flags().Changed("mod-index")
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				var resp *client.DeleteResponse
				var err error
				if conditional {
					resp, err = c.DeleteIf(ctx, args[0], modIndex)
				} else {
					resp, err = c.Delete(ctx, args[0])
				}
				if err != nil {
					return fmt.Errorf("delete %q: %w", args[0], err)
				}
				if !resp.Succeeded {
					return fmt.Errorf("delete %q: %w", args[0], modIndexConflict(modIndex, resp.Current))
				}
				return a.out.del(a.stdout, args[0], resp)
			})
		},
	}
	cmd.Flags().Uint64Var(&modIndex, "mod-index", 0,
		"delete only if the key's mod index is this")
	return cmd
}
