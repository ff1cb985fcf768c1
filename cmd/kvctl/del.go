package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// delCmd is `kvctl del <key>`.
func (a *app) delCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "del <key>",
		Aliases: []string{"delete"},
		Short:   "Delete a key",
		Long: `Delete a key on the leader. Prints 1 if the key existed and 0 if it did not
(deleting a missing key is not an error). Exit code 5 means the delete may
or may not have been applied.`,
		Example: "  kvctl del greeting",
		Args:    exactArgs("key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				resp, err := c.Delete(ctx, args[0])
				if err != nil {
					return fmt.Errorf("delete %q: %w", args[0], err)
				}
				return a.out.del(a.stdout, args[0], resp)
			})
		},
	}
}
