package client

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"
)

// Defaults applied when the matching Config field is zero.
const (
	// DefaultDialTimeout bounds one connection attempt to one member.
	DefaultDialTimeout = 2 * time.Second
	// DefaultBackoffBase is the first pause before retrying when the cluster
	// has no leader (or a similar transient condition).
	DefaultBackoffBase = 50 * time.Millisecond
	// DefaultBackoffMax caps the pause between retries. A failover takes
	// about a second; a longer pause would add most of itself to the time
	// until the first write succeeds on the new leader, while a few polls
	// per second per client cost the cluster nothing.
	DefaultBackoffMax = 250 * time.Millisecond
	// DefaultRequestTimeout is the overall budget of one call, retries
	// included, when the caller's context has no deadline.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMemberRefresh is how often the membership is refreshed.
	DefaultMemberRefresh = 10 * time.Second
	// DefaultEjectBackoff is how long a member that failed a stale read is
	// first left out of the rotation.
	DefaultEjectBackoff = time.Second
	// DefaultEjectBackoffMax caps how long a failing member is left out.
	DefaultEjectBackoffMax = 30 * time.Second
	// DefaultNoQuorumGrace is how long after a quorum was lost the client
	// still retries on NO_QUORUM (see Config.NoQuorumGrace). It fits kvd's
	// default raft timings (500ms heartbeat and election timeouts).
	DefaultNoQuorumGrace = 1500 * time.Millisecond
)

// Config configures a Client. The zero value of every field except Endpoints
// means "use the default".
type Config struct {
	// Endpoints are host:port client gRPC addresses of one or more cluster
	// members. Required. The rest of the membership is learned from them.
	Endpoints []string
	// TLS, when not nil, secures every connection to the cluster: it
	// verifies the members' server certificates (RootCAs; the system roots
	// when nil) and presents a client certificate (Certificates or
	// GetClientCertificate) when the cluster requires one. gRPC sets the
	// server name from each address, so member certificates need SANs for
	// the addresses used (IP SANs for IP addresses). The client clones it.
	// Nil means plaintext. tlsconfig.Info.ClientConfig builds one from
	// PEM files.
	TLS *tls.Config
	// DialTimeout bounds one connection attempt to one member; a member that
	// cannot be reached within it is skipped for another. 0 means 2s.
	DialTimeout time.Duration
	// BackoffBase is the first pause before a retry after NO_LEADER (or after
	// every known member failed); pauses double up to BackoffMax and are
	// jittered to half..full length. 0 means 50ms.
	BackoffBase time.Duration
	// BackoffMax caps the pause between retries. 0 means 250ms.
	BackoffMax time.Duration
	// RequestTimeout is the overall budget of one call, retries included,
	// applied only when the caller's context has no deadline. 0 means 30s.
	RequestTimeout time.Duration
	// DefaultConsistency is the consistency of Get and List calls that do
	// not choose one with WithConsistency or WithMaxStaleness. 0 means
	// Linearizable.
	DefaultConsistency Consistency
	// DefaultMaxStaleness is the bound of Bounded reads that do not give one
	// with WithMaxStaleness. Required (> 0) when DefaultConsistency is
	// Bounded; otherwise 0 means none, and a Bounded read without
	// WithMaxStaleness fails with ErrInvalidArgument.
	DefaultMaxStaleness time.Duration
	// MemberRefresh is how often a background goroutine (stopped by Close)
	// asks the cluster for its membership, so that stale reads reach added
	// members and stop going to removed ones. The membership is also
	// refreshed after a member fails. 0 means 10s; negative disables the
	// periodic refresh but keeps the refresh after failures.
	MemberRefresh time.Duration
	// EjectBackoff is how long a member that failed a stale or bounded read
	// (unreachable, shutting down, or too stale) is first left out of the
	// rotation; it doubles with each further failure up to EjectBackoffMax
	// and is jittered by ±25%. When it ends the member is probed with a
	// Status call and returns to the rotation if it answers. 0 means 1s.
	EjectBackoff time.Duration
	// EjectBackoffMax caps EjectBackoff's doubling. 0 means 30s.
	EjectBackoffMax time.Duration
	// NoQuorumGrace tells a lost quorum from an election in progress. A
	// write or linearizable read that gets NO_QUORUM from every member fails
	// with ErrNoQuorum at once when the members lost their leader more than
	// NoQuorumGrace ago. When the loss is more recent the cluster may be
	// electing a new leader (a node reports NO_QUORUM one election timeout
	// after it last heard from a leader, which can happen during an
	// ordinary failover), so the client keeps trying every member, with
	// backoff, until NoQuorumGrace has passed since the loss, and at most
	// NoQuorumGrace in all. Set it above the cluster's usual election time.
	// 0 means 1.5s; negative means never wait.
	NoQuorumGrace time.Duration
	// Token is a bearer token sent with every call as gRPC metadata
	// "authorization: Bearer <token>", for clusters that run with
	// --auth-token-file. "" sends none. The transport is plaintext, so
	// the token is only as private as the network.
	Token string
	// PreferredEndpoint, when set, is the member (its client gRPC address,
	// as the cluster lists it) that serves this client's stale and bounded
	// reads while it is healthy, as a Consul agent reads from its local
	// server: a member in the same zone, say. When it fails it is ejected
	// like any member and reads are balanced over the others until it is
	// back. "" (the default) balances every read over all members.
	// Writes and linearizable reads go to the leader either way.
	PreferredEndpoint string
	// DisableBatching sends every call as its own unary gRPC call. By
	// default Get, Put, Delete and CompareAndSwap calls made concurrently
	// to one member share a Batch stream, and those waiting while a message
	// is being sent go together in the next one, which costs the member and
	// the client far less CPU per call; each call keeps its own deadline,
	// answer and retries. Members that do not implement Batch get unary
	// calls either way.
	DisableBatching bool
	// Logger receives Debug logs per attempt and Info logs on leader changes.
	// nil discards logs.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in and no
// endpoints; set Endpoints before use.
func DefaultConfig() Config {
	return Config{
		DialTimeout:     DefaultDialTimeout,
		BackoffBase:     DefaultBackoffBase,
		BackoffMax:      DefaultBackoffMax,
		RequestTimeout:  DefaultRequestTimeout,
		MemberRefresh:   DefaultMemberRefresh,
		EjectBackoff:    DefaultEjectBackoff,
		EjectBackoffMax: DefaultEjectBackoffMax,
		NoQuorumGrace:   DefaultNoQuorumGrace,
	}
}

// Validate reports whether the Config is usable. Zero durations are valid
// (they mean the default); negative ones are not, except MemberRefresh and
// NoQuorumGrace.
// Errors wrap ErrInvalidArgument.
func (c Config) Validate() error {
	if len(c.Endpoints) == 0 {
		return fmt.Errorf("%w: config: at least one endpoint is required", ErrInvalidArgument)
	}
	for i, ep := range c.Endpoints {
		if ep == "" {
			return fmt.Errorf("%w: config: endpoint %d is empty", ErrInvalidArgument, i)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DialTimeout", c.DialTimeout},
		{"BackoffBase", c.BackoffBase},
		{"BackoffMax", c.BackoffMax},
		{"RequestTimeout", c.RequestTimeout},
		{"DefaultMaxStaleness", c.DefaultMaxStaleness},
		{"EjectBackoff", c.EjectBackoff},
		{"EjectBackoffMax", c.EjectBackoffMax},
	} {
		if d.v < 0 {
			return fmt.Errorf("%w: config: %s must not be negative, got %v", ErrInvalidArgument, d.name, d.v)
		}
	}
	if c.BackoffBase > 0 && c.BackoffMax > 0 && c.BackoffBase > c.BackoffMax {
		return fmt.Errorf("%w: config: BackoffBase %v exceeds BackoffMax %v", ErrInvalidArgument, c.BackoffBase, c.BackoffMax)
	}
	if c.EjectBackoff > 0 && c.EjectBackoffMax > 0 && c.EjectBackoff > c.EjectBackoffMax {
		return fmt.Errorf("%w: config: EjectBackoff %v exceeds EjectBackoffMax %v", ErrInvalidArgument, c.EjectBackoff, c.EjectBackoffMax)
	}
	if !c.DefaultConsistency.valid() {
		return fmt.Errorf("%w: config: unknown DefaultConsistency %d", ErrInvalidArgument, int(c.DefaultConsistency))
	}
	if c.DefaultConsistency == Bounded && c.DefaultMaxStaleness <= 0 {
		return fmt.Errorf("%w: config: DefaultConsistency Bounded needs a positive DefaultMaxStaleness", ErrInvalidArgument)
	}
	return nil
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = d.BackoffBase
		if c.BackoffMax > 0 {
			c.BackoffBase = min(c.BackoffBase, c.BackoffMax)
		}
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(d.BackoffMax, c.BackoffBase)
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.MemberRefresh == 0 {
		c.MemberRefresh = d.MemberRefresh
	}
	if c.NoQuorumGrace == 0 {
		c.NoQuorumGrace = d.NoQuorumGrace
	}
	if c.EjectBackoff == 0 {
		c.EjectBackoff = d.EjectBackoff
		if c.EjectBackoffMax > 0 {
			c.EjectBackoff = min(c.EjectBackoff, c.EjectBackoffMax)
		}
	}
	if c.EjectBackoffMax == 0 {
		c.EjectBackoffMax = max(d.EjectBackoffMax, c.EjectBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
