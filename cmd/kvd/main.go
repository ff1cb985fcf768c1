// Command kvd runs one raftkv node: a raft-replicated bbolt key-value store
// served over gRPC.
//
//	kvd --node-id n1 --data-dir data/n1 \
//	    --grpc-addr 127.0.0.1:7001 --raft-addr 127.0.0.1:7101 --http-addr 127.0.0.1:7201 \
//	    --bootstrap --initial-cluster n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103
//
// Run `kvd --help` for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/raftkv/raftkv/metrics"
	"github.com/raftkv/raftkv/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	// go-metrics is process-global: hashicorp/raft reports to whatever sink
	// is installed, so the one node of this process installs it here, once.
	raftMetrics := metrics.NewRaftSink()
	err := metrics.InstallRaftSink(raftMetrics)
	if err == nil {
		err = run(ctx, os.Args[1:], os.Stderr, raftMetrics)
	}
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "kvd:", err)
		os.Exit(1)
	}
}

// run parses flags, starts the node and blocks until ctx ends (SIGTERM or
// SIGINT) or a listener fails, then shuts the node down in order. SIGHUP
// re-reads the --auth-token-file. The node's
// metrics go to a registry of its own, together with raftMetrics (raft's
// telemetry) when it is not nil.
func run(ctx context.Context, args []string, stderr io.Writer, raftMetrics *metrics.RaftSink) error {
	cfg, proc, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := proc.logger
	if proc.gcPercent > 0 {
		debug.SetGCPercent(proc.gcPercent)
	}
	cfg.Registry = metrics.NewRegistry()
	cfg.RaftMetrics = raftMetrics
	srv, err := server.Start(cfg)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1) // size 1: reloads coalesce
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if err := srv.ReloadTokens(); err != nil {
				logger.Warn("SIGHUP: token reload failed", "err", err)
			}
			continue
		case <-ctx.Done():
			logger.Info("signal received, shutting down")
		case err = <-srv.Done():
			logger.Error("serving failed, shutting down", "err", err)
		}
		return errors.Join(err, srv.Close())
	}
}
