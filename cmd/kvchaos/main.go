// Command kvchaos runs raftkv's fault-injection harness (package chaos):
// a cluster of real kvd processes in network namespaces, concurrent
// clients, a seeded nemesis (kills, pauses, partitions, slow links) and a
// linearizability check of everything the clients saw. It needs root.
//
//	kvchaos -kvd bin/kvd -runs 20            # 20 runs from a random seed
//	kvchaos -kvd bin/kvd -seed 42 -runs 1    # rerun one seed
//
// Run i uses seed+i. The exit code is 0 when every run passed, 1 when a run
// found a problem (its seed and artifact folder are printed), 2 on bad
// flags and 3 when the harness cannot run on this machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/chaos"
)

// Errors that main maps to exit codes.
var (
	errUsage       = errors.New("usage error")
	errRunsFailed  = errors.New("some runs failed")
	errUnsupported = chaos.ErrUnsupported
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "kvchaos:", err)
		os.Exit(2)
	case errors.Is(err, errUnsupported):
		fmt.Fprintln(os.Stderr, "kvchaos:", err)
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, "kvchaos:", err)
		os.Exit(1)
	}
}

// run parses flags and performs the runs one after another.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kvchaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		kvd       = fs.String("kvd", "bin/kvd", "path of the kvd binary")
		runs      = fs.Int("runs", 1, "number of runs; run i uses seed+i")
		seed      = fs.Uint64("seed", 0, "first seed (default: random, printed)")
		nodes     = fs.Int("nodes", 3, "cluster size: 3 or 5")
		duration  = fs.Duration("duration", 20*time.Second, "faulty workload per run")
		clients   = fs.Int("clients", 12, "concurrent clients")
		keys      = fs.Int("keys", 5, "size of the key set")
		stalePct  = fs.Int("stale-pct", 10, "percentage of STALE gets (of 50% reads; the rest are linearizable)")
		casPct    = fs.Int("cas-pct", 15, "percentage of compare-and-swaps (of the 50% writes: 10% deletes, the rest puts)")
		faults    = fs.String("faults", "all", "comma-separated fault kinds: "+kinds())
		artifacts = fs.String("artifacts", "", "folder for run artifacts (default $TMPDIR/raftkv-chaos)")
		keep      = fs.Bool("keep", false, "keep the artifacts of passing runs too")
		checkTO   = fs.Duration("check-timeout", 2*time.Minute, "porcupine time limit per run")
		failFast  = fs.Bool("fail-fast", false, "stop after the first failing run")
		verbose   = fs.Bool("v", false, "print every fault and lifecycle event")
		selftest  = fs.Bool("selftest-stale", false, "checker self-test: record STALE gets as linearizable; runs are expected to FAIL")
		cleanup   = fs.Bool("cleanup", false, "only remove the networks left behind by runs whose process died, then exit")
		kvdFlags  = fs.String("kvd-flags", "", "extra kvd flags, space-separated (e.g. \"--election-timeout 300ms\")")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kvchaos [flags]\n\nkvchaos checks a raftkv cluster under faults (needs root).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *cleanup {
		ids, err := chaos.CleanupStale(ctx)
		fmt.Fprintf(stdout, "removed the networks of %d dead runs %v\n", len(ids), ids)
		return err
	}
	seedSet := false
	fs.Visit(func(f *flag.Flag) { seedSet = seedSet || f.Name == "seed" })
	if !seedSet {
		*seed = rand.Uint64() >> 16 // short enough to type
	}
	fk, err := chaos.ParseFaults(*faults)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *runs < 1 || (*nodes != 3 && *nodes != 5) || *stalePct < 0 || *stalePct > 50 || *casPct < 0 || *casPct > 40 {
		return fmt.Errorf("%w: want -runs >= 1, -nodes 3 or 5, -stale-pct 0..50, -cas-pct 0..40", errUsage)
	}
	if _, err := os.Stat(*kvd); err != nil {
		return fmt.Errorf("%w: -kvd: %w (run make build)", errUsage, err)
	}
	if err := chaos.Supported(); err != nil {
		return err
	}
	logf := func(string, ...any) {}
	if *verbose {
		logf = func(format string, a ...any) {
			fmt.Fprintf(stdout, "  %s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
		}
	}
	fmt.Fprintf(stdout, "kvchaos: %d runs from seed %d, %d nodes, %v each, faults %s\n", *runs, *seed, *nodes, *duration, *faults)
	var sum chaos.Summary
	for i := range *runs {
		cfg := chaos.Config{
			Seed: *seed + uint64(i), Nodes: *nodes, KVD: *kvd, Duration: *duration, Faults: fk,
			Workload: chaos.WorkloadConfig{Clients: *clients, Keys: *keys, ReadPct: 50 - *stalePct, StalePct: *stalePct,
				DeletePct: 10, CASPct: *casPct, StaleAsLinearizable: *selftest},
			ArtifactRoot: *artifacts, KeepArtifacts: *keep, CheckTimeout: *checkTO,
			ExtraFlags: strings.Fields(*kvdFlags), Logf: logf,
		}
		rep, err := chaos.Run(ctx, cfg)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(stdout, "interrupted during seed %d; cleaned up\n", cfg.Seed)
				break
			}
			return fmt.Errorf("seed %d: %w", cfg.Seed, err)
		}
		fmt.Fprintf(stdout, "[%d/%d] ", i+1, *runs)
		rep.WriteSummary(stdout)
		sum.Add(rep)
		if !rep.Passed() {
			fmt.Fprintf(stdout, "  rerun: kvchaos -kvd %s -seed %d -runs 1 -nodes %d -duration %v -faults %s -clients %d -keys %d -stale-pct %d -cas-pct %d\n",
				*kvd, cfg.Seed, *nodes, *duration, *faults, *clients, *keys, *stalePct, *casPct)
			if *failFast {
				break
			}
		}
	}
	fmt.Fprintln(stdout, "---- summary ----")
	_, _ = sum.WriteTo(stdout)
	if sum.Passed < sum.Runs {
		return errRunsFailed
	}
	return ctx.Err()
}

func kinds() string {
	var s []string
	for _, k := range chaos.AllFaults {
		s = append(s, string(k))
	}
	return strings.Join(s, ",")
}
