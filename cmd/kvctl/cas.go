package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// casCmd is `kvctl cas <key> <old> <new>`.
func (a *app) casCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cas <key> <old> <new>",
		Short: "Set a key to a new value only if it holds the old one",
		Long: `Compare-and-swap: set the key to <new> only if its current value is <old>,
atomically on the leader. Prints OK when swapped. When the key holds another
value, or does not exist, nothing is written and kvctl exits with code 6.

To create a key only if it does not exist, use "put <key> <value>
--mod-index 0". Like put, an interrupted swap is retried on the new leader
and applied once; exit code 5 means the outcome is still unknown.`,
		Example: `  kvctl cas counter 41 42
  kvctl cas config/mode '' fast   # the key exists with an empty value`,
		Args: exactArgs("key", "old", "new"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				swapped, err := c.CompareAndSwap(ctx, args[0], []byte(args[1]), []byte(args[2]))
				if err != nil {
					return fmt.Errorf("cas %q: %w", args[0], err)
				}
				if !swapped {
					return fmt.Errorf("cas %q: %w", args[0], conditionError{fmt.Sprintf("the key does not hold %q", args[1])})
				}
				return a.out.cas(a.stdout, args[0])
			})
		},
	}
}
