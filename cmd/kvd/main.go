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
	"syscall"

	"github.com/raftkv/raftkv/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stderr)
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
// SIGINT) or a listener fails, then shuts the node down in order.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, logger, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	srv, err := server.Start(cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("signal received, shutting down")
	case err = <-srv.Done():
		logger.Error("serving failed, shutting down", "err", err)
	}
	return errors.Join(err, srv.Close())
}
