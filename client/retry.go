package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// opKind says where a call goes and how it may be retried.
type opKind int

const (
	// readOp is a linearizable read: sent to the leader, retried freely.
	readOp opKind = iota + 1
	// writeOp is a write: sent to the leader, applied at most once.
	writeOp
	// anyOp is a read any member can answer (Members): sent to the leader
	// if known, otherwise to the next candidate, without discovery.
	anyOp
)

// maxHops is how many NOT_LEADER hints are followed back to back before the
// client pauses; it stops two nodes with stale views from ping-ponging it.
const maxHops = 3

// attemptFunc performs one attempt of a call on one connection, passing opts
// to the generated client, and returns the response header.
type attemptFunc func(ctx context.Context, cc *grpc.ClientConn, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error)

// action is what the retry loop does after a failed attempt.
type action int

const (
	// actReturn hands the error to the caller.
	actReturn action = iota + 1
	// actRedirect retries at once on the hinted leader.
	actRedirect
	// actNext tries the next member; it pauses only after a full cycle.
	actNext
	// actBackoff pauses with jitter, then retries.
	actBackoff
)

// decide is the retry policy: what to do after failure f of a call of the
// given kind, where sent says whether the request may have reached a server.
func decide(f failure, kind opKind, sent bool) action {
	write := kind == writeOp
	switch f.code {
	case codes.FailedPrecondition:
		if f.reason != reasonNotLeader {
			return actReturn
		}
		// Nothing was proposed. Without a usable address (the leader has not
		// registered it yet) wait for the cluster to settle.
		if f.leaderAddr != "" && f.leaderAddr != f.target {
			return actRedirect
		}
		return actBackoff
	case codes.Unavailable:
		switch f.reason {
		case reasonNoLeader, reasonNotProposed:
			return actBackoff
		case reasonShuttingDown:
			return actNext
		case "":
			if write && sent {
				return actReturn
			}
			return actNext
		default: // OUTCOME_UNKNOWN, or a reason this client does not know
			if write {
				return actReturn
			}
			return actBackoff
		}
	case codes.DeadlineExceeded:
		// The server's own deadline (the caller's is checked by invoke).
		if write && sent {
			return actReturn
		}
		return actBackoff
	}
	return actReturn
}

// invoke runs fn against the leader (or any member for anyOp), retrying per
// decide until it succeeds, fails for good, or ctx (or the default budget)
// runs out.
func (c *Client) invoke(ctx context.Context, method string, kind opKind, fn attemptFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := c.budget(ctx)
	defer cancel()
	write := kind == writeOp
	var (
		lastErr error // latest retryable failure, reported if time runs out
		pauses  int   // backoff pauses so far; the pause doubles with each
		misses  int   // members in a row that could not be reached
		hops    int   // NOT_LEADER hints followed since the last pause
	)
	for attempt := 1; ; attempt++ {
		if c.isClosed() {
			return ErrClosed
		}
		if cerr := done(ctx); cerr != nil {
			return giveUp(cerr, lastErr)
		}

		target := c.Leader()
		if target == "" {
			var n int
			target, n = c.nextCandidate()
			if kind != anyOp {
				leader, derr := c.discover(ctx, target)
				switch {
				case derr == nil && leader != "":
					target = leader
				case derr == nil:
					lastErr = fmt.Errorf("%w: %s knows no leader", ErrNoLeader, target)
					c.log.Debug("no leader known", "method", method, "target", target, "attempt", attempt)
					if err := c.pause(ctx, &pauses); err != nil {
						return giveUp(err, lastErr)
					}
					continue
				case unreachable(classify(target, derr)):
					if cerr := done(ctx); cerr != nil {
						return giveUp(cerr, lastErr)
					}
					lastErr = classify(target, derr).toError(false, false)
					if isContextErr(lastErr) {
						lastErr = fmt.Errorf("%w: %s did not answer within %v", ErrUnavailable, target, 2*c.cfg.DialTimeout)
					}
					c.log.Debug("member unreachable", "method", method, "target", target, "attempt", attempt, "err", derr)
					if misses++; misses >= n {
						misses = 0
						if err := c.pause(ctx, &pauses); err != nil {
							return giveUp(err, lastErr)
						}
					}
					continue
				default:
					// The member answered, but not with the membership (for
					// example an older server). Send it the request: followers
					// forward to the leader themselves.
				}
			}
		}

		cc, err := c.conn(target)
		if err != nil {
			return err
		}
		var p peer.Peer
		hdr, err := fn(ctx, cc, grpc.Peer(&p))
		if err == nil {
			c.observe(hdr)
			return nil
		}
		if c.isClosed() {
			return ErrClosed
		}

		// Write-at-most-once. A write is retried only when it provably did not
		// take effect. The server says so with NOT_LEADER, NO_LEADER,
		// NOT_PROPOSED and SHUTTING_DOWN. For a transport failure (Unavailable
		// without a raftkv ErrorInfo) we rely on the grpc.Peer call option:
		// gRPC fills it in only when the call was bound to an established
		// connection (a transport stream was created). An empty peer therefore
		// means the request never left this process (the connection was
		// refused, or never became ready within DialTimeout), and the write may
		// go elsewhere. A set peer means bytes may have reached the server, so
		// the outcome is unknown and the caller gets ErrOutcomeUnknown. This is
		// conservative: a request that died in a local buffer counts as sent.
		sent := p.Addr != nil
		f := classify(target, err)
		ferr := f.toError(write, sent)
		act := decide(f, kind, sent)
		c.log.Debug("attempt failed", "method", method, "target", target, "attempt", attempt,
			"code", f.code.String(), "reason", f.reason, "sent", sent, "err", err)

		if errors.Is(ferr, ErrOutcomeUnknown) {
			if isContextErr(ferr) && lastErr != nil {
				// The deadline caught the write in flight after earlier
				// attempts had failed: say why they did.
				return fmt.Errorf("%w; earlier attempts: %w", ferr, lastErr)
			}
			return ferr
		}
		if cerr := done(ctx); cerr != nil {
			// The caller's deadline ran out during the attempt: report why
			// earlier attempts failed, if any did.
			if isContextErr(ferr) {
				if lastErr != nil {
					return giveUp(cerr, lastErr)
				}
				return ferr
			}
			return giveUp(cerr, ferr)
		}
		if act == actReturn {
			return ferr
		}
		lastErr = ferr
		if act != actNext {
			misses = 0
		}
		switch act {
		case actRedirect:
			c.followHint(f.leaderAddr, f.leaderID)
			if hops++; hops <= maxHops {
				continue
			}
		case actNext:
			c.forgetLeader(target)
			if misses++; misses < c.candidateCount() {
				continue
			}
			misses = 0
		case actBackoff:
			if f.reason != reasonNotProposed {
				// The node is not (or no longer) a working leader.
				c.forgetLeader(target)
			}
		}
		hops = 0
		if err := c.pause(ctx, &pauses); err != nil {
			return giveUp(err, lastErr)
		}
	}
}

// discover asks target for the membership and returns the leader's gRPC
// address ("" if target knows no leader). Each attempt is bounded by twice
// DialTimeout so that one silent member cannot use up the caller's budget.
func (c *Client) discover(ctx context.Context, target string) (string, error) {
	cc, err := c.conn(target)
	if err != nil {
		return "", err
	}
	dctx, cancel := context.WithTimeout(ctx, 2*c.cfg.DialTimeout)
	defer cancel()
	resp, err := kvpb.NewClusterClient(cc).Members(dctx, &kvpb.MembersRequest{})
	if err != nil {
		return "", err
	}
	c.learn(resp.GetMembers())
	c.observe(resp.GetHeader())
	if l := c.Leader(); l != "" {
		return l, nil
	}
	for _, m := range resp.GetMembers() {
		if m.GetLeader() && m.GetGrpcAddr() != "" {
			c.followHint(m.GetGrpcAddr(), m.GetId())
			return m.GetGrpcAddr(), nil
		}
	}
	return "", nil
}

// unreachable reports whether a discovery failure means the member could not
// be asked at all, so the next one should be tried.
func unreachable(f failure) bool {
	switch f.code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// candidateCount returns how many members the client can try.
func (c *Client) candidateCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.candidatesLocked())
}

// budget bounds ctx by RequestTimeout unless it already has a deadline.
func (c *Client) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.RequestTimeout)
}

// pause sleeps for the n-th jittered exponential backoff, or until ctx is
// done, in which case it returns ctx.Err().
func (c *Client) pause(ctx context.Context, n *int) error {
	d := c.cfg.BackoffBase << min(*n, 30)
	if d <= 0 || d > c.cfg.BackoffMax {
		d = c.cfg.BackoffMax
	}
	*n++
	d = d/2 + rand.N(d/2+1) // jitter: half to full length
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// giveUp is the error returned when the context ends (with cerr) while
// retrying: the last failure, so the caller learns why, wrapped together
// with cerr.
func giveUp(cerr, lastErr error) error {
	if lastErr == nil {
		return cerr
	}
	return fmt.Errorf("%w; gave up: %w", lastErr, cerr)
}

// done returns ctx's error once it is done, or DeadlineExceeded once its
// deadline has passed even if ctx's own timer has not fired yet: gRPC reads
// the clock, so it can report a deadline a moment before ctx.Err does.
func done(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// isContextErr reports whether err is a context deadline or cancellation.
func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
