package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/client"
)

// benchCmd is `kvctl bench put|get|mixed`.
func (a *app) benchCmd() *cobra.Command {
	spec := benchSpec{}
	var consistency string
	var prof benchProfiles
	cmd := &cobra.Command{
		Use:   "bench put|get|mixed",
		Short: "Load the cluster and report throughput and latency",
		Long: `Run a workload against the cluster and report operations per second,
latency percentiles (p50, p90, p99, p99.9, max) and errors by kind.

The workloads match etcd's benchmark tool so that numbers compare: keys of
--key-size bytes drawn uniformly from --key-space keys, values of
--val-size bytes, --clients concurrent clients sharing --conns client
connections. "put" writes; "get" reads (--consistency linearizable or
stale) after writing the key space once (key space 1 reads one key, as
etcd's range benchmark does); "mixed" reads with probability
--read-ratio and writes otherwise. --rate paces all clients together
(open loop); 0 runs flat out. --command-timeout bounds each operation, not
the run. A terminal gets a progress line on stderr; -w json prints one JSON
object for machines.`,
		Example: `  kvctl bench put --clients 64 --conns 8 --total 20000
  kvctl bench get --consistency stale --clients 64 --conns 8 --duration 10s
  kvctl bench mixed --read-ratio 0.9 --rate 2000 --duration 30s -w json
  kvctl bench put --clients 64 --conns 8 --total 1000000 --key-space 1000000 --sequential-keys`,
		Args:      exactArgs("workload"),
		ValidArgs: []string{"put", "get", "mixed"},
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Workload = args[0]
			c, err := parseConsistency(consistency)
			if err != nil {
				return usageError{err}
			}
			spec.Consistency = c
			if err := spec.validate(); err != nil {
				return usageError{err}
			}
			stop, err := prof.start()
			if err != nil {
				return err
			}
			return errors.Join(a.runBench(cmd.Context(), spec), stop())
		},
	}
	f := cmd.Flags()
	f.IntVar(&spec.Clients, "clients", 1, "concurrent clients")
	f.IntVar(&spec.Conns, "conns", 1, "client connections the clients share")
	f.IntVar(&spec.Total, "total", 10000, "operations to run (0: run for --duration)")
	f.DurationVar(&spec.Duration, "duration", 0, "run this long instead of --total operations")
	f.IntVar(&spec.KeySize, "key-size", 8, "key size in bytes")
	f.IntVar(&spec.ValSize, "val-size", 256, "value size in bytes")
	f.IntVar(&spec.KeySpace, "key-space", 100000, "number of distinct keys (get: 1 reads a single key)")
	f.BoolVar(&spec.Sequential, "sequential-keys", false, "use keys 0..key-space-1 in order instead of at random (loads every key)")
	f.Float64Var(&spec.Rate, "rate", 0, "operations per second for all clients together (0: unlimited)")
	f.Float64Var(&spec.ReadRatio, "read-ratio", 0.5, "mixed: fraction of operations that are reads")
	f.StringVar(&consistency, "consistency", "linearizable", "reads: linearizable or stale")
	f.BoolVar(&spec.PinConns, "pin-conns", true, "connection i serves its stale reads from endpoint i mod the number of endpoints while that member is healthy, as etcd's benchmark gives each connection one endpoint (false: each connection balances its reads over every member)")
	f.BoolVar(&spec.Batch, "batch", true, "let each connection's concurrent calls share a Batch stream (false: one unary gRPC call each)")
	f.StringVar(&prof.cpu, "cpuprofile", "", "write a CPU profile of the run to this file")
	f.StringVar(&prof.mem, "memprofile", "", "write an allocation profile of the run to this file")
	_ = f.MarkHidden("cpuprofile") // for raftkv's own performance work
	_ = f.MarkHidden("memprofile")
	return cmd
}

// parseConsistency reads a --consistency value for bench.
func parseConsistency(s string) (client.Consistency, error) {
	switch s {
	case "linearizable":
		return client.Linearizable, nil
	case "stale":
		return client.Stale, nil
	}
	return 0, fmt.Errorf("--consistency %q: want linearizable or stale", s)
}

func (s *benchSpec) validate() error {
	var errs []error
	switch s.Workload {
	case "put", "get", "mixed":
	default:
		errs = append(errs, fmt.Errorf("unknown workload %q: want put, get or mixed", s.Workload))
	}
	if s.Duration > 0 {
		s.Total = 0
	}
	if s.Clients < 1 || s.Conns < 1 || s.Conns > s.Clients {
		errs = append(errs, fmt.Errorf("want 1 <= --conns <= --clients, got %d connections for %d clients", s.Conns, s.Clients))
	}
	if s.Total <= 0 && s.Duration <= 0 {
		errs = append(errs, errors.New("set --total > 0 or --duration > 0"))
	}
	if s.KeySize < 1 || s.KeySize > 4096 || s.ValSize < 0 || s.ValSize > 1<<20 {
		errs = append(errs, fmt.Errorf("--key-size must be 1..4096 and --val-size 0..1048576 (raftkv's limits), got %d and %d", s.KeySize, s.ValSize))
	}
	if s.KeySpace < 1 || s.Rate < 0 || s.ReadRatio < 0 || s.ReadRatio > 1 {
		errs = append(errs, errors.New("want --key-space >= 1, --rate >= 0 and 0 <= --read-ratio <= 1"))
	}
	return errors.Join(errs...)
}

// runBench opens the connections, runs the workload and prints the report.
func (a *app) runBench(ctx context.Context, spec benchSpec) error {
	cfg, err := a.clientConfig()
	if err != nil {
		return err
	}
	cfg.DisableBatching = !spec.Batch
	conns := make([]kvClient, 0, spec.Conns)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range spec.Conns {
		cfg := cfg
		if spec.PinConns {
			cfg.PreferredEndpoint = cfg.Endpoints[i%len(cfg.Endpoints)]
		}
		c, err := a.dial(cfg)
		if err != nil {
			return err
		}
		conns = append(conns, opTimeout{kvClient: c, d: a.commandTimeout})
	}
	var progress func(int, time.Duration)
	if isTerminal(a.stderr) {
		progress = func(done int, elapsed time.Duration) {
			rate := float64(done) / elapsed.Seconds()
			if spec.Total > 0 {
				width := 30
				filled := min(width, done*width/spec.Total)
				fmt.Fprintf(a.stderr, "\r[%s%s] %d/%d  %.0f ops/s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, spec.Total, rate)
			} else {
				fmt.Fprintf(a.stderr, "\r%v/%v  %d ops  %.0f ops/s ", elapsed.Round(time.Second), spec.Duration, done, rate)
			}
		}
	}
	res, err := runBench(ctx, spec, conns, progress)
	if progress != nil {
		fmt.Fprintln(a.stderr)
	}
	if err != nil {
		return err
	}
	if a.writeOut == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return printBench(a.stdout, res)
}

// opTimeout bounds each operation by d (kvctl's --command-timeout).
type opTimeout struct {
	kvClient
	d time.Duration
}

func (o opTimeout) Put(ctx context.Context, key string, value []byte) (*client.PutResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, o.d)
	defer cancel()
	return o.kvClient.Put(ctx, key, value)
}

func (o opTimeout) Get(ctx context.Context, key string, opts ...client.ReadOption) (*client.GetResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, o.d)
	defer cancel()
	return o.kvClient.Get(ctx, key, opts...)
}

// isTerminal reports whether w is a character device (an interactive
// terminal), where a progress line is welcome.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
