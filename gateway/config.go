package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftkv/raftkv/client"
)

// Limits of the cluster, mirrored here so that bad requests are refused
// before they cost a round trip, and so that the gateway never imports the
// server's store package. A test checks they equal the store's.
const (
	// MaxKeyBytes is the largest key: a key is 1..MaxKeyBytes bytes.
	MaxKeyBytes = 4096
	// MaxValueBytes is the largest value, and so the largest PUT body: a
	// larger body is refused with 413.
	MaxValueBytes = 1 << 20
	// MaxListLimit is the largest ?limit, and the number of keys a listing
	// returns when it gives none.
	MaxListLimit = 10000
)

// Defaults applied when the matching Config field is zero.
const (
	// DefaultRequestTimeout bounds one request's work against the cluster,
	// the client's retries included.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultReadyTTL is how long a /readyz probe of the cluster is reused.
	DefaultReadyTTL = time.Second
	// DefaultReadyTimeout bounds one /readyz probe of the cluster.
	DefaultReadyTimeout = 2 * time.Second
)

// Backend is what the gateway needs from the cluster. *client.Client
// implements it; its methods must be safe for concurrent use and return
// errors wrapping the client's sentinels (client.ErrNotFound, …), which
// errors.go maps to HTTP statuses.
type Backend interface {
	// Put sets key to value.
	Put(ctx context.Context, key string, value []byte) (*client.PutResponse, error)
	// Get reads one key.
	Get(ctx context.Context, key string, opts ...client.ReadOption) (*client.GetResponse, error)
	// PutIf sets key to value only if the key's mod index is modIndex (0:
	// only if it does not exist); a condition that does not hold is not an
	// error but PutResponse.Succeeded false.
	PutIf(ctx context.Context, key string, value []byte, modIndex uint64) (*client.PutResponse, error)
	// Delete removes one key.
	Delete(ctx context.Context, key string) (*client.DeleteResponse, error)
	// DeleteIf removes key only if its mod index is modIndex, as PutIf.
	DeleteIf(ctx context.Context, key string, modIndex uint64) (*client.DeleteResponse, error)
	// List reads the keys under a prefix.
	List(ctx context.Context, prefix string, opts ...client.ReadOption) (*client.ListResponse, error)
	// Members lists the cluster's members.
	Members(ctx context.Context) ([]client.Member, error)
	// Status asks the member at endpoint (its client gRPC address) for its
	// own raft state.
	Status(ctx context.Context, endpoint string) (*client.Status, error)
}

// Default rate limits (see Config).
var (
	// DefaultIPLimit is the per-client-IP limit.
	DefaultIPLimit = Limit{Rate: 200, Burst: 400}
	// DefaultRoleLimits are the per-token limits of each role when the
	// token file does not set them.
	DefaultRoleLimits = map[Role]Limit{
		RoleRead:  {Rate: 200, Burst: 400},
		RoleWrite: {Rate: 100, Burst: 200},
		RoleAdmin: NoLimit,
	}
)

// Config configures a Gateway. Zero fields take the defaults above.
type Config struct {
	// Backend serves the requests. Required.
	Backend Backend
	// TokenFile is the path of the token file (see tokens.go for its
	// format). Required unless InsecureNoAuth is set; read by New and by
	// every Reload.
	TokenFile string
	// InsecureNoAuth turns authentication off: every request acts as an
	// anonymous admin, limited only per client IP. For local development
	// only; New logs a warning. TokenFile must then be empty.
	InsecureNoAuth bool
	// IPLimit bounds each client IP (IPv6: each /64), before the token is
	// even checked, so it also slows down token guessing. The zero value
	// means DefaultIPLimit; NoLimit turns it off.
	IPLimit Limit
	// RoleLimits are the per-token limits of roles that the token file
	// does not set; roles missing here get DefaultRoleLimits.
	RoleLimits map[Role]Limit
	// TrustedProxies are the load balancers whose X-Forwarded-For header is
	// believed: for a request from one of them, the client IP is the
	// right-most address in X-Forwarded-For that is not itself trusted.
	// Empty means the header is ignored and the peer address is the client.
	TrustedProxies []netip.Prefix
	// RequestTimeout bounds each request's calls to the cluster, retries
	// included. 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// ReadyTTL is how long /readyz reuses its last probe of the cluster. 0
	// means DefaultReadyTTL.
	ReadyTTL time.Duration
	// ReadyTimeout bounds one probe of the cluster by /readyz. 0 means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Logger receives the access log (Info, one line per request) and the
	// gateway's own events. nil discards them.
	Logger *slog.Logger
	// Registry receives the gateway's metrics and is served on /metrics.
	// nil means a new registry of the gateway's own; never the global one.
	Registry *prometheus.Registry
}

// Validate reports whether the Config is usable.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("gateway config: Backend is required")
	}
	switch {
	case c.InsecureNoAuth && c.TokenFile != "":
		return errors.New("gateway config: a token file and insecure no-auth mode exclude each other")
	case !c.InsecureNoAuth && c.TokenFile == "":
		return errors.New("gateway config: a token file is required (or explicitly run without auth)")
	}
	if c.IPLimit != (Limit{}) {
		if err := c.IPLimit.Validate(); err != nil {
			return fmt.Errorf("gateway config: IP limit: %w", err)
		}
	}
	for role, l := range c.RoleLimits {
		if !role.Valid() {
			return fmt.Errorf("gateway config: limit for unknown role %d", int(role))
		}
		if err := l.Validate(); err != nil {
			return fmt.Errorf("gateway config: %s limit: %w", role, err)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"RequestTimeout", c.RequestTimeout}, {"ReadyTTL", c.ReadyTTL}, {"ReadyTimeout", c.ReadyTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("gateway config: %s must not be negative, got %v", d.name, d.v)
		}
	}
	return nil
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.IPLimit == (Limit{}) {
		c.IPLimit = DefaultIPLimit
	}
	limits := make(map[Role]Limit, len(DefaultRoleLimits))
	for r, l := range DefaultRoleLimits {
		limits[r] = l
	}
	for r, l := range c.RoleLimits {
		limits[r] = l
	}
	c.RoleLimits = limits
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ReadyTTL == 0 {
		c.ReadyTTL = DefaultReadyTTL
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
