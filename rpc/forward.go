package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/raftnode"
)

// forwardedKey marks a request that a follower forwarded to the leader. A
// forwarded request is never forwarded again, so a stale leader view on two
// nodes cannot bounce a request between them.
const forwardedKey = "raftkv-forwarded"

// forwarder keeps one client connection per member address, for forwarding
// and joining.
type forwarder struct {
	timeout time.Duration
	creds   credentials.TransportCredentials

	mu    sync.Mutex // guards conns
	conns map[string]*grpc.ClientConn
}

// newForwarder dials members with TLS when tlsCfg is not nil, else in
// plaintext.
func newForwarder(timeout time.Duration, tlsCfg *tls.Config) *forwarder {
	return &forwarder{timeout: timeout, creds: PeerCredentials(tlsCfg), conns: make(map[string]*grpc.ClientConn)}
}

// PeerCredentials are the transport credentials a node uses to call another
// node's client port: TLS with cfg (cloned; gRPC fills in the server name
// from the address dialled), or plaintext when cfg is nil.
func PeerCredentials(cfg *tls.Config) credentials.TransportCredentials {
	if cfg == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(cfg.Clone())
}

// conn returns a (lazily connecting) connection to addr.
func (f *forwarder) conn(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(f.creds),
		grpc.WithInitialWindowSize(StreamWindowSize),
		grpc.WithInitialConnWindowSize(ConnWindowSize))
	if err != nil {
		return nil, fmt.Errorf("dial member %s: %w", addr, err)
	}
	f.conns[addr] = c
	return c, nil
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, c := range f.conns {
		_ = c.Close()
		delete(f.conns, addr)
	}
}

// isForwarded reports whether the incoming request was forwarded by a peer.
func isForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(forwardedKey)) > 0
}

// forwardCall is one RPC sent to the leader on the given connection.
type forwardCall[T any] func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (T, error)

// forwardOr sends a request that failed locally with "not leader" to the
// leader and returns the leader's answer unchanged. Any other local error, a
// request that was already forwarded once, or an unknown leader address
// returns the local error, which toStatus turns into a NOT_LEADER or
// NO_LEADER status for the client to act on.
//
// write says whether the call changes state: when the hop to the leader fails
// after the request may have reached it, a write's outcome is unknown, while
// a read is simply retryable.
func forwardOr[T any](ctx context.Context, s *Server, localErr error, write bool, call forwardCall[T]) (T, error) {
	var zero T
	var nle *raftnode.NotLeaderError
	if !errors.As(localErr, &nle) || isForwarded(ctx) {
		return zero, localErr
	}
	addr := s.leaderAddr(nle.LeaderID)
	if addr == "" || addr == s.cfg.GRPCAddr {
		return zero, localErr
	}
	cc, err := s.fwd.conn(addr)
	if err != nil {
		return zero, fmt.Errorf("%w: %w", errNotForwardable, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.fwd.timeout)
		defer cancel()
	}
	ctx = metadata.AppendToOutgoingContext(s.withCallerAuth(ctx), forwardedKey, string(s.node.ID()))
	var p peer.Peer
	resp, err := call(ctx, cc, grpc.Peer(&p))
	if err == nil {
		return resp, nil
	}
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || reasonOf(err) != "" {
		// The leader answered (or the caller's context ended): pass it on.
		return zero, err
	}
	// A transport failure on the hop to the leader. grpc fills the peer only
	// when a transport stream was created, so an empty peer proves the
	// request never left this node.
	msg := fmt.Sprintf("forward to leader %s at %s: %s", nle.LeaderID, addr, st.Message())
	if write && p.Addr != nil {
		return zero, withReason(codes.Unavailable, msg, ReasonOutcomeUnknown, nil)
	}
	return zero, withReason(codes.Unavailable, msg, ReasonNoLeader, nil)
}
