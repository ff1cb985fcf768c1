package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Client talks to a raftkv cluster. It is safe for concurrent use. Create it
// with New and release it with Close.
type Client struct {
	cfg       Config
	log       *slog.Logger
	endpoints []string       // configured endpoints, deduplicated, in order
	bal       *balancer      // spreads stale and bounded reads over the members
	throttle  *retryThrottle // limits retries of OVERLOADED refusals

	// seen is the highest raft index this client has seen: write indexes and
	// the applied index of linearizable reads. It is sent as min_index on
	// stale and bounded reads (read-your-writes).
	seen atomic.Uint64

	// Background work (member refresh, probes) runs under bg, which Close
	// cancels before waiting for wg.
	bg     context.Context
	stopBg context.CancelFunc
	wg     sync.WaitGroup
	// kick asks the refresh loop for an early refresh. Size 1: requests
	// made while one is pending coalesce into it.
	kick chan struct{}
	// refreshMu serialises membership refreshes.
	refreshMu sync.Mutex

	mu sync.Mutex
	// The fields below are guarded by mu.
	conns      map[string]*grpc.ClientConn // one connection per address
	batchers   map[string]*batcher         // the Batch stream of each connection, made on first use
	leader     string                      // leader's gRPC address; "" unknown
	term       uint64                      // highest term seen in a response header
	members    []string                    // gRPC addresses learned from Members
	discovered bool                        // members has been learned at least once
	next       int                         // round-robin cursor over candidates
	sess       *session                    // exactly-once identity of new writes
	closed     bool
}

// New validates cfg and returns a Client. It does not contact the cluster:
// connections are made lazily, and the membership and the leader are learned
// on the first call.
//
// New starts one goroutine, which refreshes the membership every
// Config.MemberRefresh; Close stops it.
func New(cfg Config) (*Client, error) {
	return newClient(cfg, time.Now)
}

// newClient is New with the clock the balancer uses for ejections, so tests
// can move time on without sleeping.
func newClient(cfg Config, now func() time.Time) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "client"),
		conns:    make(map[string]*grpc.ClientConn),
		batchers: make(map[string]*batcher),
		kick:     make(chan struct{}, 1),
		sess:     newSession(),
	}
	for _, ep := range cfg.Endpoints {
		if !slices.Contains(c.endpoints, ep) {
			c.endpoints = append(c.endpoints, ep)
		}
	}
	c.bg, c.stopBg = context.WithCancel(context.Background())
	c.throttle = newRetryThrottle()
	c.bal = newBalancer(now, cfg.EjectBackoff, cfg.EjectBackoffMax, c.endpoints)
	c.bal.probe = c.probe
	c.bal.preferred = cfg.PreferredEndpoint
	// Build the configured endpoints' connections now (this does no I/O) so a
	// malformed address is reported by New rather than by the first call.
	for _, ep := range c.endpoints {
		if _, err := c.conn(ep); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	c.goBackground(c.refreshLoop)
	return c, nil
}

// Close stops the client's goroutines and closes every connection. Calls in
// flight fail, and later calls return ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	conns := c.conns
	c.conns = nil
	c.closed = true
	c.mu.Unlock()
	c.stopBg()
	c.wg.Wait()
	var errs []error
	for addr, cc := range conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection to %s: %w", addr, err))
		}
	}
	return errors.Join(errs...)
}

// Leader returns the client gRPC address of the node the client currently
// believes to be the leader, or "" when it does not know.
func (c *Client) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// The HTTP/2 flow-control windows of the client's connections, per stream
// and per connection: the values the node uses (rpc.StreamWindowSize and
// rpc.ConnWindowSize, which say why they are fixed).
const (
	streamWindowSize = 1 << 20
	connWindowSize   = 4 << 20
)

// conn returns the connection to addr, creating it on first use. grpc.NewClient
// does not dial; the connection is made by the first RPC, bounded by
// DialTimeout.
func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connLocked(addr)
}

// connLocked is conn with c.mu held.
func (c *Client) connLocked(addr string) (*grpc.ClientConn, error) {
	if c.closed {
		return nil, ErrClosed
	}
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	creds := insecure.NewCredentials()
	if c.cfg.TLS != nil {
		creds = credentials.NewTLS(c.cfg.TLS.Clone())
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if c.cfg.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerCreds{token: c.cfg.Token}))
	}
	cc, err := grpc.NewClient(addr, append(opts,
		grpc.WithUserAgent("raftkv-client"),
		// Fixed flow-control windows, the same as the node's (see
		// rpc.StreamWindowSize): without them grpc-go's window estimator
		// sends a PING per call that waits for its answer.
		grpc.WithInitialWindowSize(streamWindowSize),
		grpc.WithInitialConnWindowSize(connWindowSize),
		grpc.WithConnectParams(grpc.ConnectParams{
			// Reconnect quickly: a restarted member should be usable again
			// within a couple of seconds, not after gRPC's default 2 minutes.
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   max(c.cfg.DialTimeout, time.Second),
			},
			MinConnectTimeout: c.cfg.DialTimeout,
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("%w: endpoint %q: %w", ErrInvalidArgument, addr, err)
	}
	c.conns[addr] = cc
	return cc, nil
}

// caller returns what the KV calls to addr go through: its connection, or
// with batching on (the default; Config.DisableBatching) the connection's
// batcher, which carries concurrent Get, Put, Delete and CompareAndSwap
// calls on one Batch stream.
func (c *Client) caller(addr string) (grpc.ClientConnInterface, error) {
	c.mu.Lock() // once: this runs on every call
	defer c.mu.Unlock()
	cc, err := c.connLocked(addr)
	if err != nil {
		return nil, err // not a nil *grpc.ClientConn in a non-nil interface
	}
	if c.cfg.DisableBatching {
		return cc, nil
	}
	if b, ok := c.batchers[addr]; ok && b.cc == cc {
		return b, nil
	}
	b := &batcher{cc: cc, c: c}
	c.batchers[addr] = b
	return b, nil
}

// isClosed reports whether Close has been called.
func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// goBackground runs fn in a goroutine owned by the client: fn's context is
// cancelled by Close, which waits for fn to return. After Close it does
// nothing and returns false.
func (c *Client) goBackground(fn func(ctx context.Context)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	// Add under mu, before Close can set closed: Close's Wait then sees it.
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn(c.bg)
	}()
	return true
}

// noteIndex raises the read-your-writes index to index.
func (c *Client) noteIndex(index uint64) {
	for {
		cur := c.seen.Load()
		if index <= cur || c.seen.CompareAndSwap(cur, index) {
			return
		}
	}
}

// observe updates the leader from a response header. Headers from a term older
// than one already seen are ignored: they come from a node that has not yet
// heard of the newer leader. So are those of a degraded node, whose leader
// is gone.
func (c *Client) observe(h *kvpb.ResponseHeader) {
	if h == nil {
		return
	}
	c.bal.noteApplied(h.GetAppliedIndex())
	if h.GetLeaderAddr() == "" || h.GetDegraded() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.GetTerm() < c.term {
		return
	}
	c.term = h.GetTerm()
	c.setLeaderLocked(h.GetLeaderAddr(), h.GetLeaderId())
}

// followHint records a NOT_LEADER hint.
func (c *Client) followHint(addr, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLeaderLocked(addr, id)
}

// setLeaderLocked changes the believed leader, logging changes. c.mu is held.
func (c *Client) setLeaderLocked(addr, id string) {
	if addr == c.leader {
		return
	}
	c.log.Info("leader changed", "leader_id", id, "leader_addr", addr, "previous", c.leader, "term", c.term)
	c.leader = addr
}

// forgetLeader drops addr as the believed leader (if it still is).
func (c *Client) forgetLeader(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == addr {
		c.log.Debug("leader forgotten", "leader_addr", addr)
		c.leader = ""
	}
}

// candidatesLocked returns every address worth trying: the learned members,
// then the configured endpoints not among them (seeds for discovery, which
// may also be other names for the same nodes). c.mu is held.
func (c *Client) candidatesLocked() []string {
	out := slices.Clone(c.members)
	for _, ep := range c.endpoints {
		if !slices.Contains(out, ep) {
			out = append(out, ep)
		}
	}
	return out
}

// nextCandidate returns the next address in round-robin order and how many
// candidates there are.
func (c *Client) nextCandidate() (addr string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cands := c.candidatesLocked()
	addr = cands[c.next%len(cands)]
	c.next++
	return addr, len(cands)
}
