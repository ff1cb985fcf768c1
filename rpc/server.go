package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/raftkv/raftkv/auth"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/store"
)

// Consensus is what the handlers need from the raft node. *raftnode.Node
// implements it. All methods are safe for concurrent use.
type Consensus interface {
	// ID is this node's stable id.
	ID() raftnode.NodeID
	// Apply proposes cmd and waits until it is committed and applied here.
	Apply(ctx context.Context, cmd []byte) (raftnode.ApplyResult, error)
	// LinearizableRead returns once a read of the local state machine is
	// linearizable, or a *raftnode.NotLeaderError / raftnode.ErrNoLeader.
	LinearizableRead(ctx context.Context) error
	// Leader returns the leader's id and raft address ("" when unknown).
	Leader() (raftnode.NodeID, string)
	// Status reports this node's raft state.
	Status() raftnode.Status
	// Contact reports the leader, term and leader contact, the part of
	// Status each response header carries, cheaply.
	Contact() raftnode.Contact
	// Members lists the latest raft configuration.
	Members(ctx context.Context) ([]raftnode.Member, error)
	// AddVoter adds, updates or promotes a voter (leader only).
	AddVoter(ctx context.Context, id raftnode.NodeID, raftAddr string) error
	// AddNonvoter adds or updates a non-voter and never demotes a voter
	// (leader only).
	AddNonvoter(ctx context.Context, id raftnode.NodeID, raftAddr string) error
	// PromoteToVoter makes a non-voter a voter (leader only).
	PromoteToVoter(ctx context.Context, id raftnode.NodeID) error
	// RemoveServer removes a member (leader only).
	RemoveServer(ctx context.Context, id raftnode.NodeID) error
	// TransferLeadershipTo hands leadership to id, or to the most
	// up-to-date voter when id is empty (leader only).
	TransferLeadershipTo(ctx context.Context, id raftnode.NodeID) error
	// LeaderChanged returns a channel closed at the next leadership change.
	LeaderChanged() <-chan struct{}
	// WaitApplied waits until the state machine has applied index.
	WaitApplied(ctx context.Context, index uint64) error
	// AppliedIndex is the index through which every committed entry is
	// reflected locally (raft no-ops and barriers included, which the
	// store's own counter never sees).
	AppliedIndex() uint64
}

// Reader is what the handlers need from the local state machine. *store.Store
// implements it. Reads are local and never block on the network.
type Reader interface {
	// GetAt returns one key (or store.ErrNotFound) and the applied index
	// of the state it was read from, both from one read transaction.
	GetAt(key []byte) (store.KeyValue, uint64, error)
	// ListAt returns up to limit keys with prefix, whether more matched,
	// and the applied index of the state read, from one read transaction.
	ListAt(prefix []byte, limit int) ([]store.KeyValue, bool, uint64, error)
	// NodeMeta returns the replicated addresses of one node.
	NodeMeta(id string) (store.NodeMeta, bool)
	// AppliedIndex is the index of the last command the state machine
	// applied (raft entries that never reach it are not counted).
	AppliedIndex() uint64
}

// Config configures a Server.
type Config struct {
	// GRPCAddr is this node's advertised client gRPC address. Required.
	GRPCAddr string
	// JoinAddrs are client gRPC addresses of existing members that this node
	// asks to add it to the cluster; empty when the node was bootstrapped.
	JoinAddrs []string
	// NonVoter makes this node join as a non-voter (a read replica) rather
	// than a voter. Once promoted it re-registers as a voter. Default false.
	NonVoter bool
	// PeerTLS, when not nil, is used to call other members' client ports
	// (forwarding to the leader, joining, self-registration): it verifies
	// their server certificates and presents this node's certificate when
	// they require client certificates. Nil means plaintext.
	PeerTLS *tls.Config
	// ForwardTimeout bounds one forwarded call when the caller's context has
	// no deadline. 0 means 10s.
	ForwardTimeout time.Duration
	// DefaultDeadline is applied to incoming calls without a deadline.
	// 0 means 10s.
	DefaultDeadline time.Duration
	// RegisterRetry is the pause between self-registration attempts.
	// 0 means 100ms.
	RegisterRetry time.Duration
	// MaxInflightWrites bounds the Put, Delete, CompareAndSwap and Join
	// calls this node handles at once; one more is refused at once with
	// ResourceExhausted/OVERLOADED. 0 means DefaultMaxInflightWrites (1024);
	// negative means no limit.
	MaxInflightWrites int
	// MaxInflightReads bounds the Get and List calls handled at once, as
	// MaxInflightWrites does for writes. 0 means DefaultMaxInflightReads
	// (4096); negative means no limit.
	MaxInflightReads int
	// OverloadRetryAfter is the retry hint (RetryInfo) sent with OVERLOADED.
	// 0 means DefaultOverloadRetryAfter (50ms).
	OverloadRetryAfter time.Duration
	// AdmissionWait is how long a write or read that finds the node at its
	// limit may wait for a slot before it is refused (as many may wait as
	// the limit). 0 means DefaultAdmissionWait (20ms); negative refuses at
	// once.
	AdmissionWait time.Duration
	// Tokens, if not nil, turns on bearer-token auth with this token set
	// (the gateway's token file format, package auth): Get, List, Members
	// and Status need read, Put, Delete and CompareAndSwap write, Join
	// admin; health and reflection stay open. SetTokens replaces it.
	Tokens *auth.TokenSet
	// NodeToken is the token this node sends on calls it makes for itself
	// (self-registration through Join), so it needs role admin in the
	// token file. "" sends none. Forwarded client calls carry the client's
	// own token instead.
	NodeToken string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ForwardTimeout <= 0 {
		c.ForwardTimeout = 10 * time.Second
	}
	if c.DefaultDeadline <= 0 {
		c.DefaultDeadline = 10 * time.Second
	}
	if c.RegisterRetry <= 0 {
		c.RegisterRetry = 100 * time.Millisecond
	}
	if c.MaxInflightWrites == 0 {
		c.MaxInflightWrites = DefaultMaxInflightWrites
	}
	if c.MaxInflightReads == 0 {
		c.MaxInflightReads = DefaultMaxInflightReads
	}
	if c.OverloadRetryAfter <= 0 {
		c.OverloadRetryAfter = DefaultOverloadRetryAfter
	}
	if c.AdmissionWait == 0 {
		c.AdmissionWait = DefaultAdmissionWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Validate reports a configuration error before anything starts.
func (c Config) Validate() error {
	if c.GRPCAddr == "" {
		return errors.New("rpc: GRPCAddr is required")
	}
	return nil
}

// Server implements kvpb.KVServer and kvpb.ClusterServer.
type Server struct {
	kvpb.UnimplementedKVServer
	kvpb.UnimplementedClusterServer

	cfg    Config
	node   Consensus
	reader Reader
	log    *slog.Logger
	health *health.Server
	fwd    *forwarder
	writes *gate                         // admission of writes; nil: unlimited
	reads  *gate                         // admission of reads; nil: unlimited
	tokens atomic.Pointer[auth.TokenSet] // nil: auth off
	// observer wraps every call a Batch stream carries (SetCallObserver);
	// nil: none.
	observer grpc.UnaryServerInterceptor
	// batchPool runs the calls of Batch streams.
	batchPool *workerPool
	// batchCount counts Batch streams, messages and calls (BatchStats).
	batchCount batchCounters
	// leaderMeta is the last leader address leaderAddr looked up; nil
	// until the first lookup.
	leaderMeta atomic.Pointer[leaderMeta]

	closeOnce sync.Once
	done      chan struct{} // closed by Close; stops background loops
	wg        sync.WaitGroup
}

// NewServer builds a Server. Call Start to run its background loops and
// Close to stop them.
func NewServer(cfg Config, node Consensus, reader Reader) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	log := cfg.Logger.With("component", "rpc", "node_id", string(node.ID()))
	s := &Server{
		cfg:    cfg,
		node:   node,
		reader: reader,
		log:    log,
		health: health.NewServer(),
		fwd:    newForwarder(cfg.ForwardTimeout, cfg.PeerTLS),
		writes: newGate(cfg.MaxInflightWrites, cfg.AdmissionWait),
		reads:  newGate(cfg.MaxInflightReads, cfg.AdmissionWait),
		done:   make(chan struct{}),
	}
	s.batchPool = newWorkerPool(batchWorkers, s.done)
	s.tokens.Store(cfg.Tokens)
	return s, nil
}

// Start runs the health updater and the self-registration loop until Close.
func (s *Server) Start() {
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.watchHealth() }()
	go func() { defer s.wg.Done(); s.registerSelf() }()
}

// Close marks the node NOT_SERVING, stops background loops and closes
// forwarding connections. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.health.Shutdown()
		close(s.done)
		s.wg.Wait()
		s.fwd.close()
	})
	return nil
}

// leaderAddr resolves a leader id to its client address.
func (s *Server) leaderAddr(id raftnode.NodeID) string {
	if id == "" {
		return ""
	}
	if id == s.node.ID() {
		return s.cfg.GRPCAddr
	}
	// Every response header names the leader's address, and looking it up
	// is a bbolt read transaction of its own, as costly as the read being
	// answered. The address only changes through a command, so the answer
	// is reused while the store's applied index is the one it was read at.
	// The index is read first: the lookup then sees that state or a newer
	// one, never an older one.
	applied := s.reader.AppliedIndex()
	if m := s.leaderMeta.Load(); m != nil && m.id == id && m.applied == applied {
		return m.addr
	}
	var addr string
	if meta, ok := s.reader.NodeMeta(string(id)); ok {
		addr = meta.GRPCAddr
	}
	s.leaderMeta.Store(&leaderMeta{id: id, applied: applied, addr: addr})
	return addr
}

// leaderMeta is a leader's client address as the store held it at one
// applied index.
type leaderMeta struct {
	id      raftnode.NodeID
	applied uint64 // the store's applied index before the lookup
	addr    string // "" when the store had no address for id
}

// header describes this node for a response.
func (s *Server) header() *kvpb.ResponseHeader {
	st := s.node.Contact()
	return &kvpb.ResponseHeader{
		NodeId:        string(s.node.ID()),
		LeaderId:      string(st.LeaderID),
		LeaderAddr:    s.leaderAddr(st.LeaderID),
		Term:          st.Term,
		AppliedIndex:  s.node.AppliedIndex(),
		LeaderKnown:   st.LeaderID != "" && !st.Degraded, // a leader not heard from for too long is not "known"
		LastContactMs: lastContactMillis(st.LastContact),
		Degraded:      st.Degraded,
	}
}

// readHeader is header for a read served at consistency c from the state
// at applied index readIndex. That index comes from the same bbolt read
// transaction as the data: the node's counter, read before or after, can
// be one write off and would claim a value existed at an index where it
// did not (the chaos harness caught exactly that).
func (s *Server) readHeader(c kvpb.Consistency, readIndex uint64) *kvpb.ResponseHeader {
	h := s.header()
	h.Consistency = c
	h.AppliedIndex = s.stateIndex(readIndex)
	return h
}

// stateIndex is the highest applied index at which the state read at
// readIndex (the last command in it) is still the node's state. Raft
// entries that never reach the state machine (no-ops, barriers,
// configuration changes) leave the state unchanged, so when only such
// entries follow readIndex the node's applied index is reported, and a
// read agrees with Status about how far the node has applied. The proof
// is in the order of the loads: the node's counter is read after the data,
// and the store's counter, read after that, still being readIndex means no
// command was applied up to the node's counter beyond readIndex (raftnode
// advances its counter over a command only after the store committed it).
func (s *Server) stateIndex(readIndex uint64) uint64 {
	nodeApplied := s.node.AppliedIndex()
	if nodeApplied > readIndex && s.reader.AppliedIndex() == readIndex {
		return nodeApplied
	}
	return readIndex
}

// lastContactMillis renders raftnode's LastContact (-1 for never).
func lastContactMillis(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// applyResult checks the state machine's answer to an applied command.
func applyResult(res raftnode.ApplyResult) (store.Result, error) {
	r, ok := res.Response.(store.Result)
	if !ok {
		return store.Result{}, fmt.Errorf("unexpected apply response %T", res.Response)
	}
	if r.Err != nil {
		return r, r.Err
	}
	return r, nil
}
