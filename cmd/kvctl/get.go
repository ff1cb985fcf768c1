package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/client"
)

// consistencies maps --consistency values to client levels.
var consistencies = map[string]client.Consistency{
	"linearizable": client.Linearizable,
	"stale":        client.Stale,
	"bounded":      client.Bounded,
}

// getCmd is `kvctl get <key>` and `kvctl get --prefix [<prefix>]`.
func (a *app) getCmd() *cobra.Command {
	var (
		prefix        bool
		limit         int
		consistency   string
		maxStaleness  time.Duration
		allowDegraded bool
	)
	cmd := &cobra.Command{
		Use:   "get <key> | get --prefix [<prefix>]",
		Short: "Read a key, or the keys with a prefix",
		Long: `Read one key, or with --prefix every key that starts with the argument
(all keys when it is omitted), in byte order.

--consistency chooses how fresh the answer must be:
  linearizable  (default) served by the leader; sees every write acknowledged
                before it. Fails (exit 4) when the cluster has lost its quorum.
  stale         served by any member from its local data, with no round trip to
                the leader; may miss recent writes. Works without a quorum.
  bounded       a stale read that a member refuses when it has not heard from
                a leader within --max-staleness; kvctl then tries another.
--max-staleness alone implies bounded.

An answer from a member that has lost its quorum (degraded mode) is printed
with a warning on stderr. --allow-degraded makes a linearizable read that
finds no quorum fall back to such a stale answer instead of failing.

A missing key exits with code 3. With --prefix, finding no keys is not an
error.`,
		Example: `  kvctl get greeting
  kvctl get greeting --consistency stale
  kvctl get greeting --max-staleness 2s
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
			rc, err := parseReadFlags(consistency, cmd.Flags().Changed("consistency"), maxStaleness,
				cmd.Flags().Changed("max-staleness"), allowDegraded)
			if err != nil {
				return usageError{err}
			}
			opts := rc.options()
			if !prefix {
				return a.withClient(cmd, func(ctx context.Context, c kvClient) error {
					resp, err := c.Get(ctx, args[0], opts...)
					if err != nil {
						return fmt.Errorf("get %q: %w", args[0], err)
					}
					warnDegraded(a.stderr, resp.Header, time.Now())
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
				resp, err := c.List(ctx, p, append(opts, client.WithLimit(limit))...)
				if err != nil {
					return fmt.Errorf("list prefix %q: %w", p, err)
				}
				warnDegraded(a.stderr, resp.Header, time.Now())
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
	f := cmd.Flags()
	f.BoolVar(&prefix, "prefix", false, "read every key starting with the argument")
	f.IntVar(&limit, "limit", 0, "with --prefix, return at most this many keys (0 = server maximum)")
	f.StringVar(&consistency, "consistency", "linearizable", "read consistency: linearizable, stale or bounded")
	f.DurationVar(&maxStaleness, "max-staleness", 0,
		"for bounded reads, refuse data from a member that has not heard from a leader within this long (implies --consistency bounded)")
	f.BoolVar(&allowDegraded, "allow-degraded", false,
		"when a linearizable read finds no quorum, answer with a stale read (and a warning) instead of failing")
	_ = cmd.RegisterFlagCompletionFunc("consistency", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"linearizable", "stale", "bounded"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// readChoice is what get's consistency flags ask for.
type readChoice struct {
	level         client.Consistency
	maxStaleness  time.Duration // bounded only
	allowDegraded bool          // linearizable only
}

// parseReadFlags checks get's consistency flags. setC and setM say whether
// --consistency and --max-staleness were given.
func parseReadFlags(consistency string, setC bool, maxStaleness time.Duration, setM bool, allowDegraded bool) (readChoice, error) {
	level, ok := consistencies[consistency]
	if !ok {
		return readChoice{}, fmt.Errorf("--consistency must be linearizable, stale or bounded, got %q", consistency)
	}
	if setM {
		if setC && level != client.Bounded {
			return readChoice{}, fmt.Errorf("--max-staleness needs --consistency bounded, got %s", level)
		}
		if maxStaleness <= 0 {
			return readChoice{}, fmt.Errorf("--max-staleness must be positive, got %v", maxStaleness)
		}
		level = client.Bounded
	}
	if level == client.Bounded && !setM {
		return readChoice{}, errors.New("--consistency bounded needs --max-staleness")
	}
	if allowDegraded && level != client.Linearizable {
		return readChoice{}, fmt.Errorf("--allow-degraded applies to linearizable reads only; %s reads already work without a quorum", level)
	}
	rc := readChoice{level: level, allowDegraded: allowDegraded}
	if level == client.Bounded {
		rc.maxStaleness = maxStaleness
	}
	return rc, nil
}

// options returns the client read options of rc.
func (rc readChoice) options() []client.ReadOption {
	opts := []client.ReadOption{client.WithConsistency(rc.level)}
	if rc.level == client.Bounded {
		opts = append(opts, client.WithMaxStaleness(rc.maxStaleness))
	}
	if rc.allowDegraded {
		opts = append(opts, client.WithDegradedReads())
	}
	return opts
}

// warnDegraded tells the user on w that an answer came from a member in
// degraded mode, and since when that member has had no leader.
func warnDegraded(w io.Writer, h client.Header, now time.Time) {
	if !h.Degraded {
		return
	}
	node := h.NodeID
	if node == "" {
		node = "an unknown node"
	}
	since := "no leader seen since it started"
	if h.LastContact >= 0 {
		at := now.Add(-h.LastContact).UTC().Truncate(time.Second)
		since = fmt.Sprintf("no quorum since %s, %v ago", at.Format(time.RFC3339), h.LastContact.Round(100*time.Millisecond))
	}
	fmt.Fprintf(w, "warning: served by %s in degraded mode (%s); data may be stale\n", node, since)
}
