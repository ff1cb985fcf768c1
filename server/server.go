package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/auth"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/store"
)

// shutdownGrace bounds how long Close waits for in-flight gRPC calls and
// HTTP requests before cutting them off.
const shutdownGrace = 5 * time.Second

// grpcStreamWorkers is how many goroutines the gRPC server keeps for
// running calls (grpc.NumStreamWorkers). Without them gRPC starts a
// goroutine per call, whose stack then grows and is copied as the call
// goes deeper: 7% of a leader's CPU under a read load. A worker keeps its
// grown stack from call to call. Calls in flight beyond the workers get a
// goroutine of their own, as before. 64 covers the usual concurrency of a
// node's calls, linearizable reads and writes included, which hold a
// worker while they wait for raft; an idle worker costs one parked
// goroutine.
const grpcStreamWorkers = 64

// Server is one running raftkv node.
type Server struct {
	cfg  Config
	log  *slog.Logger
	st   *store.Store
	node *raftnode.Node
	api  *rpc.Server
	gs   *grpc.Server
	lis  net.Listener
	http *http.Server
	hlis net.Listener
	mon  *monitoring // metrics registry and collectors; see monitoring.go
	tls  tlsSetup

	stopPilot context.CancelFunc // stops the autopilot loop; nil when it is off

	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
	serveErr  chan error // size 2: one slot per serving goroutine, never blocks
}

// Start opens the store, starts raft and begins serving gRPC (and HTTP when
// configured). On error everything already started is stopped again.
func Start(cfg Config) (s *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.logger().With("node_id", cfg.NodeID)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	ts, err := cfg.buildTLS()
	if err != nil {
		return nil, err
	}
	ts.warnPlaintext(log, cfg.ClientTLS.ClientCertAuth)
	srv := &Server{cfg: cfg, log: log, tls: ts, serveErr: make(chan error, 2)}
	s = srv
	defer func() {
		if err != nil {
			_ = srv.Close() // not s: the error returns set it to nil
		}
	}()

	if s.lis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen grpc: %w", err)
	}
	if cfg.HTTPAddr != "" {
		if s.hlis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("listen http: %w", err)
		}
	}
	if s.st, err = store.Open(filepath.Join(cfg.DataDir, "store.db"), cfg.storeOptions(log)); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	rc := cfg.raftConfig()
	rc.TLS = ts.raft
	if s.node, err = raftnode.New(rc, stateMachine{s.st}); err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	var tokens *auth.TokenSet
	var nodeToken string
	if cfg.AuthTokenFile != "" {
		if tokens, err = auth.LoadTokenFile(cfg.AuthTokenFile, nil); err != nil {
			return nil, err
		}
		if cfg.NodeTokenFile != "" {
			if nodeToken, err = auth.LoadNodeToken(cfg.NodeTokenFile); err != nil {
				return nil, err
			}
		}
	}
	s.api, err = rpc.NewServer(rpc.Config{
		GRPCAddr:          s.GRPCAddr(),
		JoinAddrs:         cfg.JoinAddrs,
		NonVoter:          cfg.NonVoter,
		PeerTLS:           ts.peerDial,
		MaxInflightWrites: cfg.MaxInflightWrites,
		MaxInflightReads:  cfg.MaxInflightReads,
		AdmissionWait:     cfg.AdmissionWait,
		Tokens:            tokens,
		NodeToken:         nodeToken,
		Logger:            log,
	}, s.node, s.st)
	if err != nil {
		return nil, err
	}
	if s.mon, err = s.newMonitoring(); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	s.api.Start()
	if err := s.startAutopilot(); err != nil {
		return nil, err
	}
	gopts := append(ts.serverOptions(), grpc.NumStreamWorkers(grpcStreamWorkers))
	s.gs = rpc.NewGRPCServer(s.api, append(gopts, s.mon.grpc.ServerOptions()...)...)
	s.mon.grpc.Initialize(s.gs)
	s.api.SetCallObserver(s.mon.grpc.CallObserver())
	s.serve("grpc", func() error { return s.gs.Serve(s.lis) })
	if s.hlis != nil {
		s.http = &http.Server{Handler: s.adminMux(), ReadHeaderTimeout: 5 * time.Second}
		s.serve("http", func() error { return s.http.Serve(s.hlis) })
	}
	if tokens != nil {
		log.Info("gRPC auth on", "tokens", tokens.Len(), "node_token", nodeToken != "")
	}
	log.Info("node started", "grpc_addr", s.GRPCAddr(), "raft_addr", s.node.RaftAddr(), "http_addr", s.HTTPAddr(),
		"client_tls", ts.grpcServer != nil, "client_cert_auth", cfg.ClientTLS.ClientCertAuth, "peer_tls", ts.raft != nil)
	return s, nil
}

// serve runs fn in an owned goroutine; an unexpected return is reported on
// Done.
func (s *Server) serve(name string, fn func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- fmt.Errorf("%s server: %w", name, err)
		}
	}()
}

// Done returns a channel that yields an error if a listener fails while the
// node runs.
func (s *Server) Done() <-chan error { return s.serveErr }

// GRPCAddr is the advertised client gRPC address.
func (s *Server) GRPCAddr() string {
	if s.cfg.AdvertiseGRPCAddr != "" {
		return s.cfg.AdvertiseGRPCAddr
	}
	if s.lis == nil {
		return s.cfg.GRPCAddr
	}
	return s.lis.Addr().String()
}

// HTTPAddr is the admin HTTP address ("" when disabled).
func (s *Server) HTTPAddr() string {
	if s.hlis == nil {
		return ""
	}
	return s.hlis.Addr().String()
}

// ID is the node's id.
func (s *Server) ID() string { return s.cfg.NodeID }

// Node exposes the raft node, for tests and status reporting.
func (s *Server) Node() *raftnode.Node { return s.node }

// Store exposes the local state machine, for tests that inspect replicas.
func (s *Server) Store() *store.Store { return s.st }

// ReloadTokens re-reads Config.AuthTokenFile and puts it in force for new
// calls (kvd does this on SIGHUP). On error the previous tokens stay in
// force. Without a token file it does nothing.
func (s *Server) ReloadTokens() error {
	if s.cfg.AuthTokenFile == "" {
		return nil
	}
	ts, err := auth.LoadTokenFile(s.cfg.AuthTokenFile, nil)
	if err != nil {
		return fmt.Errorf("reload tokens (the previous tokens stay in force): %w", err)
	}
	s.api.SetTokens(ts)
	s.log.Info("token file reloaded", "tokens", ts.Len())
	return nil
}

// Close shuts the node down in order: health goes NOT_SERVING, gRPC drains
// (then is cut off after a grace period), the admin server stops, raft shuts
// down, and the store closes last. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.stopPilot != nil {
			s.stopPilot()
		}
		if s.cfg.LeaveOnTerminate && s.api != nil && s.node != nil {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			if err := s.Leave(ctx); err != nil {
				s.log.Warn("leaving the cluster before stopping failed", "err", err)
			}
			cancel()
		}
		if s.api != nil {
			errs = append(errs, s.api.Close())
		}
		s.handOffLeadership()
		if s.gs != nil {
			stopped := make(chan struct{})
			go func() { s.gs.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(shutdownGrace):
				s.gs.Stop()
				<-stopped
			}
		} else if s.lis != nil {
			errs = append(errs, s.lis.Close())
		}
		if s.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			errs = append(errs, s.http.Shutdown(ctx))
			cancel()
		} else if s.hlis != nil {
			errs = append(errs, s.hlis.Close())
		}
		s.mon.close()
		if s.node != nil {
			errs = append(errs, s.node.Close())
		}
		if s.st != nil {
			errs = append(errs, s.st.Close())
		}
		s.wg.Wait()
		s.closeErr = errors.Join(errs...)
		s.log.Info("node stopped")
	})
	return s.closeErr
}

// handOffLeadership transfers leadership before a planned stop, when
// configured and this node leads. Failure only costs an election timeout,
// so it is logged, not returned.
func (s *Server) handOffLeadership() {
	if !s.cfg.HandOffLeadership || s.node == nil || !s.node.IsLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if ms, err := s.node.Members(ctx); err != nil || countVoters(ms) < 2 {
		return // nobody to hand off to
	}
	if err := s.node.TransferLeadership(ctx); err != nil {
		s.log.Warn("leadership hand-off before stopping failed", "err", err)
	}
}

func countVoters(ms []raftnode.Member) int {
	n := 0
	for _, m := range ms {
		if m.Voter {
			n++
		}
	}
	return n
}
