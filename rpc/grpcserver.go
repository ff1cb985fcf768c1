package rpc

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// StreamWindowSize and ConnWindowSize are the HTTP/2 flow-control windows
// (bytes a peer may send before it must wait for the receiver's window
// update) of the node's gRPC server and of its connections to other
// members: per stream and per connection. The client library uses the same
// values.
//
// Fixing them turns off grpc-go's dynamic window (BDP estimation), which
// sends a PING with the first DATA frame that arrives while none is
// outstanding: with calls that wait for their answer, that is one PING and
// one PING ack on the wire, and one wake-up of each side's writer, per
// call. Our messages are small and members sit on a LAN, where a fixed 1
// MiB window already covers what the estimator would grow to, and the
// receiver only buffers what its handlers have not read yet (admission
// control bounds that).
const (
	StreamWindowSize = 1 << 20
	ConnWindowSize   = 4 << 20
)

// NewGRPCServer returns a grpc.Server with the KV, Cluster, health and
// reflection services registered and the server's interceptor installed
// (unaryInterceptor): a default deadline for calls that carry none, the
// translation of domain errors to statuses, bearer-token auth when a token
// set is in force (auth.go), request validation (validate.go), and
// admission control (admission.go), which refuses work beyond the node's
// in-flight limits before anything is queued. Its HTTP/2 flow-control
// windows are fixed (StreamWindowSize, ConnWindowSize).
func NewGRPCServer(s *Server, opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.InitialWindowSize(StreamWindowSize),
		grpc.InitialConnWindowSize(ConnWindowSize),
	}, opts...)
	gs := grpc.NewServer(opts...)
	kvpb.RegisterKVServer(gs, s)
	kvpb.RegisterClusterServer(gs, s)
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
	return gs
}

// unaryInterceptor runs the server's checks around every unary call, in
// this order:
//
//  1. a call without a deadline gets the server's ceiling
//     (Config.DefaultDeadline), so no request can wait on consensus forever;
//  2. the caller's token must allow the method (authorize);
//  3. the request must be well formed (validateRequest);
//  4. the node must have room for it (admit);
//  5. the handler runs;
//  6. every error, the checks' included, is mapped through toStatus, and
//     those that become Internal are logged once, with the method name.
//
// It is one interceptor, not a chain of one per step: a gRPC interceptor
// chain builds a closure per link on every call, and on a read, which is
// cheap, that showed up in the profiles.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.DefaultDeadline)
		defer cancel()
	}
	// Per-request logs are Debug; without Debug the clock is not read and
	// no log arguments are built.
	debug := s.log.Enabled(ctx, slog.LevelDebug)
	var start time.Time
	if debug {
		start = time.Now()
	}
	resp, err := s.checkAndHandle(ctx, req, info, handler)
	if err == nil {
		if debug {
			s.log.Debug("request", "method", info.FullMethod, "duration", time.Since(start))
		}
		return resp, nil
	}
	st, known := toStatus(err, string(s.node.ID()), s.leaderAddr)
	if !known {
		s.log.Error("request failed", "method", info.FullMethod, "err", err)
	} else if debug {
		s.log.Debug("request refused", "method", info.FullMethod, "err", err, "duration", time.Since(start))
	}
	return nil, st
}

// checkAndHandle authorizes, validates and admits the call, then runs the
// handler; the admission slot is held until the handler returns.
func (s *Server) checkAndHandle(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	if err := validateRequest(req); err != nil {
		return nil, err
	}
	g, err := s.admit(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	defer g.release()
	return handler(ctx, req)
}
