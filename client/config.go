package client

import (
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
	// DefaultBackoffMax caps the pause between retries.
	DefaultBackoffMax = time.Second
	// DefaultRequestTimeout is the overall budget of one call, retries
	// included, when the caller's context has no deadline.
	DefaultRequestTimeout = 30 * time.Second
)

// Config configures a Client. The zero value of every field except Endpoints
// means "use the default".
type Config struct {
	// Endpoints are host:port client gRPC addresses of one or more cluster
	// members. Required. The rest of the membership is learned from them.
	Endpoints []string
	// DialTimeout bounds one connection attempt to one member; a member that
	// cannot be reached within it is skipped for another. 0 means 2s.
	DialTimeout time.Duration
	// BackoffBase is the first pause before a retry after NO_LEADER (or after
	// every known member failed); pauses double up to BackoffMax and are
	// jittered to half..full length. 0 means 50ms.
	BackoffBase time.Duration
	// BackoffMax caps the pause between retries. 0 means 1s.
	BackoffMax time.Duration
	// RequestTimeout is the overall budget of one call, retries included,
	// applied only when the caller's context has no deadline. 0 means 30s.
	RequestTimeout time.Duration
	// Logger receives Debug logs per attempt and Info logs on leader changes.
	// nil discards logs.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in and no
// endpoints; set Endpoints before use.
func DefaultConfig() Config {
	return Config{
		DialTimeout:    DefaultDialTimeout,
		BackoffBase:    DefaultBackoffBase,
		BackoffMax:     DefaultBackoffMax,
		RequestTimeout: DefaultRequestTimeout,
	}
}

// Validate reports whether the Config is usable. Zero durations are valid
// (they mean the default); negative ones are not. Errors wrap
// ErrInvalidArgument.
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
	} {
		if d.v < 0 {
			return fmt.Errorf("%w: config: %s must not be negative, got %v", ErrInvalidArgument, d.name, d.v)
		}
	}
	if c.BackoffBase > 0 && c.BackoffMax > 0 && c.BackoffBase > c.BackoffMax {
		return fmt.Errorf("%w: config: BackoffBase %v exceeds BackoffMax %v", ErrInvalidArgument, c.BackoffBase, c.BackoffMax)
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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
