package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// putCmd is `kvctl put <key> <value>`.
func (a *app) putCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "put <key> <value>",
		Short: "Set a key to a value",
		Long: `Set a key to a value on the leader.

If the command exits with code 5 the write may or may not have been applied
(for example the leader failed while committing it); kvctl never retries such
a write. Read the key back before writing again.`,
		Example: `  kvctl put greeting hello
  kvctl put config/mode -- -fast   # a value starting with '-'`,
		Args: exactArgs("key", "value"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				resp, err := c.Put(ctx, args[0], []byte(args[1]))
				if err != nil {
					return fmt.Errorf("put %q: %w", args[0], err)
				}
				return a.out.put(a.stdout, args[0], resp)
			})
		},
	}
}
