package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/client"
)

// getCmd is `kvctl get <key>` and `kvctl get --prefix [<prefix>]`.
func (a *app) getCmd() *cobra.Command {
	var (
		prefix bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "get <key> | get --prefix [<prefix>]",
		Short: "Read a key, or the keys with a prefix",
		Long: `Read one key, or with --prefix every key that starts with the argument
(all keys when it is omitted), in byte order. Reads are linearizable: they
are served by the leader and see every write acknowledged before them.

A missing key exits with code 3. With --prefix, finding no keys is not an
error.`,
		Example: `  kvctl get greeting
  kvctl get --prefix users/ --limit 10
  kvctl get --prefix -w json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if prefix {
				if len(args) > 1 {
					return fmt.Errorf("expected at most one argument <prefix> with --prefix, got %d", len(args))
				}
				return nil
			}
			if cmd.Flags().Changed("limit") {
				return errors.New("--limit needs --prefix")
			}
			return exactArgs("key")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !prefix {
				return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
					resp, err := c.Get(ctx, args[0])
					if err != nil {
						return fmt.Errorf("get %q: %w", args[0], err)
					}
					return a.out.get(a.stdout, resp)
				})
			}
			if limit < 0 {
				return usageError{fmt.Errorf("--limit must not be negative, got %d", limit)}
			}
			var p string
			if len(args) == 1 {
				p = args[0]
			}
			return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
				resp, err := c.List(ctx, p, client.WithLimit(limit))
				if err != nil {
					return fmt.Errorf("list prefix %q: %w", p, err)
				}
				if err := a.out.list(a.stdout, resp); err != nil {
					return err
				}
				if resp.More && a.writeOut != "json" {
					fmt.Fprintf(a.stderr, "(more keys match prefix %q; raise --limit to see them)\n", p)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&prefix, "prefix", false, "read every key starting with the argument")
	cmd.Flags().IntVar(&limit, "limit", 0, "with --prefix, return at most this many keys (0 = server maximum)")
	return cmd
}
