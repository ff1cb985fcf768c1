package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/client"
)

// putCmd is `kvctl put <key> <value> [--mod-index N]`.
func (a *app) putCmd() *cobra.Command {
	var modIndex uint64
	cmd := &cobra.Command{
		Use:   "put <key> <value>",
		Short: "Set a key to a value",
		Long: `Set a key to a value on the leader.

With --mod-index N the write is conditional (Consul's ?cas=): it happens
only if the key's mod index (see "get -w table") is N, or, with 0, only if
the key does not exist. Otherwise nothing is written and kvctl exits with
code 6, naming the key's current mod index.

A write interrupted by a leader failure is retried on the new leader and
applied once. Exit code 5 means the command timed out while the outcome was
still unknown: read the key back before writing again.`,
		Example: `  kvctl put greeting hello
  kvctl put config/mode -- -fast        # a value starting with '-'
  kvctl put lock/owner me --mod-index 0 # create only if missing
  kvctl put greeting hi --mod-index 42  # update only if unchanged since index 42`,
		Args: exactArgs("key", "value"),
		RunE: func(cmd *cobra.Command, args []string) error {
			conditional := cmd.Flags().Changed("mod-index")
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				var resp *client.PutResponse
				var err error
				if conditional {
					resp, err = c.PutIf(ctx, args[0], []byte(args[1]), modIndex)
				} else {
					resp, err = c.Put(ctx, args[0], []byte(args[1]))
				}
				if err != nil {
					return fmt.Errorf("put %q: %w", args[0], err)
				}
				if !resp.Succeeded {
					return fmt.Errorf("put %q: %w", args[0], modIndexConflict(modIndex, resp.Current))
				}
				return a.out.put(a.stdout, args[0], resp)
			})
		},
	}
	cmd.Flags().Uint64Var(&modIndex, "mod-index", 0,
		"write only if the key's mod index is this (0: only if the key does not exist)")
	return cmd
}

// modIndexConflict describes a failed mod-index condition.
func modIndexConflict(want uint64, cur *client.KeyValue) error {
	switch {
	case cur == nil:
		return conditionError{fmt.Sprintf("the key does not exist (wanted mod index %d)", want)}
	case want == 0:
		return conditionError{fmt.Sprintf("the key exists (mod index %d)", cur.ModIndex)}
	default:
		return conditionError{fmt.Sprintf("the key's mod index is %d, not %d", cur.ModIndex, want)}
	}
}
