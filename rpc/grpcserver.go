package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// NewGRPCServer returns a grpc.Server with the KV, Cluster, health and
// reflection services registered and the server's interceptors installed:
// a default deadline for calls that carry none, the translation of domain
// errors to statuses, bearer-token auth when a token set is in force
// (auth.go), request validation (validate.go), and admission control (admission.go), which refuses
// work beyond the node's in-flight limits before anything is queued.
func NewGRPCServer(s *Server, opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{grpc.ChainUnaryInterceptor(s.deadlineInterceptor, s.statusInterceptor, s.authInterceptor, s.validationInterceptor, s.admissionInterceptor)}, opts...)
	gs := grpc.NewServer(opts...)
	kvpb.RegisterKVServer(gs, s)
	kvpb.RegisterClusterServer(gs, s)
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
	return gs
}

// deadlineInterceptor gives calls without a deadline the server's ceiling,
// so no request can wait on consensus forever.
func (s *Server) deadlineInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.DefaultDeadline)
		defer cancel()
	}
	return handler(ctx, req)
}

// statusInterceptor maps every handler error through toStatus, logging the
// ones that become Internal once, with the method name.
func (s *Server) statusInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	if err == nil {
		s.log.Debug("request", "method", info.FullMethod, "duration", time.Since(start))
		return resp, nil
	}
	st, known := toStatus(err, string(s.node.ID()), s.leaderAddr)
	if !known {
		s.log.Error("request failed", "method", info.FullMethod, "err", err)
	} else {
		s.log.Debug("request refused", "method", info.FullMethod, "err", err, "duration", time.Since(start))
	}
	return nil, st
}
