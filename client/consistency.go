package client

import (
	"fmt"
	"time"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Consistency is the guarantee a read asks for. The zero value means "not
// set": for a read option or Config.DefaultConsistency it means
// Linearizable, and in a Header it means the call was not a read.
type Consistency int

const (
	// Linearizable reads see every write acknowledged before they started.
	// They are served by the leader after it confirms its leadership, and
	// fail with ErrNoQuorum when the cluster has lost its quorum. This is
	// the default.
	Linearizable Consistency = iota + 1
	// Stale reads are served from the local data of whichever member the
	// client picks, spread across all members, with no round trip to the
	// leader. They may miss recent writes by other clients; with
	// read-your-writes (the default) they never miss this client's own.
	Stale
	// Bounded reads are stale reads that a member refuses when it has not
	// heard from a leader for longer than the bound (WithMaxStaleness); the
	// client then tries another member.
	Bounded
)

// String returns "linearizable", "stale", "bounded", or "unspecified" for
// the zero value.
func (c Consistency) String() string {
	switch c {
	case 0:
		return "unspecified"
	case Linearizable:
		return "linearizable"
	case Stale:
		return "stale"
	case Bounded:
		return "bounded"
	}
	return fmt.Sprintf("Consistency(%d)", int(c))
}

// valid reports whether c is a known level or 0.
func (c Consistency) valid() bool { return c >= 0 && c <= Bounded }

// consistencyFrom converts the wire enum; UNSPECIFIED (and unknown values)
// become 0.
func consistencyFrom(c kvpb.Consistency) Consistency {
	switch c {
	case kvpb.Consistency_LINEARIZABLE:
		return Linearizable
	case kvpb.Consistency_STALE:
		return Stale
	case kvpb.Consistency_BOUNDED:
		return Bounded
	}
	return 0
}

// readOptions holds the settings of one Get or List call.
type readOptions struct {
	limit        int           // List only
	consistency  Consistency   // 0: Config.DefaultConsistency
	maxStaleness time.Duration // Bounded only; 0: Config.DefaultMaxStaleness
	noRYW        bool          // do not send min_index
	degraded     bool          // fall back to a stale read on NO_QUORUM
}

// ReadOption configures a Get or a List. One option type serves both, so a
// caller can build one slice of options and pass it to either; an option
// that does not apply to a call (WithLimit on Get) is ignored by it.
type ReadOption func(*readOptions)

// WithLimit caps the number of keys List returns. 0 (the default) means the
// server's maximum (10000); a negative n makes List fail with
// ErrInvalidArgument. Get ignores it.
func WithLimit(n int) ReadOption {
	return func(o *readOptions) { o.limit = n }
}

// WithConsistency sets the read's consistency level, overriding
// Config.DefaultConsistency. Bounded also needs a bound, from
// WithMaxStaleness or Config.DefaultMaxStaleness; without one the read fails
// with ErrInvalidArgument.
func WithConsistency(c Consistency) ReadOption {
	return func(o *readOptions) { o.consistency = c }
}

// WithMaxStaleness makes the read Bounded with bound d: a member serves it
// only if it has heard from a leader within d (the leader itself always
// may). The server works in whole milliseconds, so d is rounded up to one.
// d must be positive, otherwise the read fails with ErrInvalidArgument.
func WithMaxStaleness(d time.Duration) ReadOption {
	return func(o *readOptions) {
		o.consistency = Bounded
		o.maxStaleness = d
		if d == 0 {
			o.maxStaleness = -1 // an explicit 0 is an error, not "use the default"
		}
	}
}

// WithoutReadYourWrites turns read-your-writes off for a Stale or Bounded
// read: the member does not wait until it has applied this client's latest
// write, so the read is never delayed or refused for that reason but may
// not see the client's own writes. Linearizable reads always see them.
func WithoutReadYourWrites() ReadOption {
	return func(o *readOptions) { o.noRYW = true }
}

// WithDegradedReads lets a Linearizable read that meets a cluster without
// quorum (ErrNoQuorum from every member) fall back to a Stale read, with
// read-your-writes unless WithoutReadYourWrites is also given. The answer
// then says so: Header.Consistency is Stale and Header.Degraded is true. It
// has no effect on Stale and Bounded reads. Off by default.
func WithDegradedReads() ReadOption {
	return func(o *readOptions) { o.degraded = true }
}

// readOpts applies opts over the Config defaults and checks the result.
func (c *Client) readOpts(opts []ReadOption) (readOptions, error) {
	var o readOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if !o.consistency.valid() {
		return o, fmt.Errorf("%w: unknown consistency %d", ErrInvalidArgument, int(o.consistency))
	}
	if o.consistency == 0 {
		o.consistency = c.cfg.DefaultConsistency
	}
	if o.consistency == 0 {
		o.consistency = Linearizable
	}
	if o.consistency == Bounded {
		if o.maxStaleness == 0 {
			o.maxStaleness = c.cfg.DefaultMaxStaleness
		}
		if o.maxStaleness <= 0 {
			return o, fmt.Errorf("%w: a bounded read needs a positive max staleness (WithMaxStaleness)", ErrInvalidArgument)
		}
	}
	return o, nil
}

// wire returns the ReadOptions sent to the server. minIndex is the highest
// raft index this client has seen; it is sent for stale and bounded reads
// unless read-your-writes is off.
func (o readOptions) wire(minIndex uint64) *kvpb.ReadOptions {
	switch o.consistency {
	case Stale, Bounded:
		ro := &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}
		if o.consistency == Bounded {
			ro.Consistency = kvpb.Consistency_BOUNDED
			// Round up: a bound below 1ms must not become 0 ("no bound").
			ro.MaxStalenessMs = int64((o.maxStaleness + time.Millisecond - 1) / time.Millisecond)
		}
		if !o.noRYW {
			ro.MinIndex = minIndex
		}
		return ro
	}
	return &kvpb.ReadOptions{Consistency: kvpb.Consistency_LINEARIZABLE}
}
