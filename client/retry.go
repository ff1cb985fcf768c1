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
	// writeOp is a write: sent to the leader with a request id, which makes
	// it exactly-once, so it is retried like a read; only the error when
	// the caller's context ends says whether an attempt may have applied.
	writeOp
	// anyOp is a read any member can answer (Members): sent to the leader
	// if known, otherwise to the next candidate, without discovery.
	anyOp
)

// maxRetryHint caps the server's RetryInfo hint that the client honours.
const maxRetryHint = 5 * time.Second

// maxHops is how many NOT_LEADER hints are followed back to back before the
// client pauses; it stops two nodes with stale views from ping-ponging it.
const maxHops = 3

// attemptFunc performs one attempt of a call on one connection, passing opts
// to the generated client, and returns the response header.
type attemptFunc func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error)

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

// decide is the retry policy: what to do after failure f. Reads and writes
// are treated alike, because every write the client sends carries a
// request id that the server deduplicates (see session.go): a write whose
// outcome is unknown (OUTCOME_UNKNOWN, a transport failure after sending,
// a hop's deadline) is sent again, to the new leader, under the same id.
// Without a request id, which only raw gRPC callers can omit, a write whose
// outcome is unknown must go back to the caller instead: the server never
// retries it, and says OUTCOME_UNKNOWN.
func decide(f failure) action {
	switch f.code {
	case codes.FailedPrecondition:
		if f.reason != reasonNotLeader {
			// REQUEST_TOO_OLD and SESSION_EXPIRED included: the request id
			// cannot be deduplicated any more (invoke renews it first when
			// no attempt can have been applied).
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
		case reasonNoQuorum:
			// Nothing was proposed. invoke tries every other member once
			// (this one may be a minority on the wrong side of a
			// partition), then gives up.
			return actNext
		case "":
			// A transport failure: this member is unreachable.
			return actNext
		default: // OUTCOME_UNKNOWN (leadership lost mid-commit), or a reason this client does not know
			return actBackoff
		}
	case codes.ResourceExhausted:
		// OVERLOADED: the node refused before doing anything; wait at
		// least its retry hint (pause), then try the same leader again.
		if f.reason == reasonOverloaded {
			return actBackoff
		}
	case codes.DeadlineExceeded:
		// The server's own deadline (the caller's is checked by invoke).
		return actBackoff
	}
	return actReturn
}

// invoke runs fn against the leader (or any member for anyOp), retrying per
// decide until it succeeds, fails for good, or ctx (or the default budget)
// runs out. w is the request id of a writeOp (nil otherwise); fn must send
// w.proto() with every attempt.
//
// A write is sent again under the same request id whatever its failure, so
// the server applies it once however many attempts reach it. When the call
// fails for good after an attempt that may have been applied (the outcome
// of that attempt was unknown), the error wraps ErrOutcomeUnknown: it is
// returned only when the caller's context ends (or another final failure
// comes) before an answer proves what happened. When the server refuses
// the request id (REQUEST_TOO_OLD, SESSION_EXPIRED) and no attempt can have
// been applied, the write is re-sent at once under a new one.
//
// NO_QUORUM is handled apart: the first such answer starts a sweep in which
// every other known member is tried once, at once and without pauses
// (following NOT_LEADER hints to members not yet tried). The first member
// that serves the call ends it; when none is left the call fails with the
// NoQuorumError, promptly rather than at the deadline, unless the quorum was
// lost less than NoQuorumGrace ago (see electionWait), in which case the
// sweep is repeated with backoff until then.
func (c *Client) invoke(ctx context.Context, method string, kind opKind, w *writeID, fn attemptFunc) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := c.budget(ctx)
	defer cancel()
	write := kind == writeOp
	// maybeApplied is set once an attempt of the write failed in a way that
	// leaves its outcome unknown; from then on every final error says so.
	maybeApplied := false
	defer func() {
		if err != nil && maybeApplied && !errors.Is(err, ErrOutcomeUnknown) {
			err = fmt.Errorf("%w: an earlier attempt may have been applied: %w", ErrOutcomeUnknown, err)
		}
	}()
	var (
		lastErr error // latest retryable failure, reported if time runs out
		pauses  int   // backoff pauses so far; the pause doubles with each
		misses  int   // members in a row that could not be reached
		hops    int   // NOT_LEADER hints followed since the last pause
		// sweep is non-nil once a member answered NO_QUORUM: the members
		// tried since, which are not tried again.
		sweep   map[string]bool
		nqErr   error     // the latest NO_QUORUM answer
		nqFirst time.Time // when the first NO_QUORUM answer came
		nqSince time.Time // earliest "since" among NO_QUORUM answers
	)
	for attempt := 1; ; attempt++ {
		if c.isClosed() {
			return ErrClosed
		}
		if cerr := done(ctx); cerr != nil {
			return giveUp(cerr, lastErr)
		}

		target := c.Leader()
		if sweep != nil {
			if target = c.unswept(sweep); target == "" {
				if wait := c.electionWait(nqFirst, nqSince); wait > 0 {
					// The quorum was lost only just now: this may be an
					// election under way. Sweep again shortly.
					c.log.Debug("no quorum since moments ago; waiting for an election", "method", method, "up_to", wait)
					if err := sleep(ctx, min(c.backoffDelay(&pauses), wait)); err != nil {
						return giveUp(err, nqErr)
					}
					clear(sweep)
					continue
				}
				c.kickRefresh()
				return fmt.Errorf("%w (tried %d members, none could serve the request)", nqErr, len(sweep))
			}
		} else if target == "" {
			var n int
			target, n = c.nextCandidate()
			if kind != anyOp {
				leader, degraded, derr := c.discover(ctx, target)
				switch {
				case derr == nil && leader != "":
					target = leader
				case derr == nil && degraded:
					// The member lost its quorum. Send it the request all the
					// same: its NO_QUORUM answer starts the sweep, instead of
					// waiting here for a leader that may never come.
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

		cc, err := c.caller(target)
		if err != nil {
			return err
		}
		// Only a write asks gRPC for the peer (see sent below): the option
		// costs allocations on every call, and reads never need it.
		var p peer.Peer
		var hdr *kvpb.ResponseHeader
		if write {
			hdr, err = fn(ctx, cc, grpc.Peer(&p))
		} else {
			hdr, err = fn(ctx, cc)
		}
		if err == nil {
			c.observe(hdr)
			c.throttle.succeeded()
			return nil
		}
		if c.isClosed() {
			return ErrClosed
		}

		// Whether a failed write attempt may have been applied. The server
		// says it was not with NOT_LEADER, NO_LEADER, NOT_PROPOSED,
		// SHUTTING_DOWN and NO_QUORUM, and that it may have been with
		// OUTCOME_UNKNOWN. For a transport failure (Unavailable without a
		// raftkv ErrorInfo) we rely on the grpc.Peer call option: gRPC fills
		// it in only when the call was bound to an established connection (a
		// transport stream was created). An empty peer therefore means the
		// request never left this process (the connection was refused, or
		// never became ready within DialTimeout). A set peer means bytes may
		// have reached the server. This is conservative: a request that died
		// in a local buffer counts as sent. Either way the write is retried
		// under its request id; the distinction only decides whether a final
		// failure wraps ErrOutcomeUnknown. Reads do not ask: for them it
		// decides nothing, and it is logged as false.
		sent := p.Addr != nil
		f := classify(target, err)
		if f.code == codes.Canceled && ctx.Err() == nil {
			// Not the caller's cancel: the connection was closed under the
			// call (the member left the cluster). Treat it as a transport
			// failure.
			f.code, f.reason = codes.Unavailable, ""
		}
		c.log.Debug("attempt failed", "method", method, "target", target, "attempt", attempt,
			"code", f.code.String(), "reason", f.reason, "sent", sent, "err", err)
		if w != nil && (f.reason == reasonRequestTooOld || f.reason == reasonSessionExpired) &&
			!maybeApplied && w.renewals < maxRenewals {
			// No attempt can have been applied, so the write may go again
			// under a new request id.
			if err := w.renew(ctx, f.reason == reasonSessionExpired); err != nil {
				return err
			}
			continue
		}
		ferr := f.toError(write, sent)
		act := decide(f)

		if errors.Is(ferr, ErrOutcomeUnknown) {
			maybeApplied = true
			if done(ctx) != nil && isContextErr(ferr) && lastErr != nil {
				// The deadline caught the write in flight after earlier
				// attempts had failed: say why they did.
				return fmt.Errorf("%w; earlier attempts: %w", ferr, lastErr)
			}
			// An OUTCOME_UNKNOWN answer that arrived as the deadline
			// passed falls through: the error must name both.
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
		if f.reason == reasonOverloaded && !c.throttle.refused() {
			// Most recent calls were refused too: retrying would add load
			// to a node that is shedding it.
			c.log.Debug("overloaded; not retrying (retry throttle)", "method", method, "target", target)
			return ferr // wraps ErrOutcomeUnknown if an earlier attempt may have applied (see the defer)
		}
		lastErr = ferr
		if f.reason == reasonNoQuorum || sweep != nil {
			if sweep == nil {
				sweep = make(map[string]bool)
				nqFirst = time.Now()
				c.log.Debug("no quorum; trying every other member once", "method", method, "target", target)
			}
			sweep[target] = true
			if f.reason == reasonNoQuorum {
				nqErr = ferr
				// The earliest: a node may move its "since" forward when it
				// notices the loss late, which must not extend the wait.
				if since := f.noQuorum().Since; !since.IsZero() && (nqSince.IsZero() || since.Before(nqSince)) {
					nqSince = since
				}
			}
			c.forgetLeader(target)
			if act == actRedirect && !sweep[f.leaderAddr] {
				c.followHint(f.leaderAddr, f.leaderID)
			}
			continue
		}
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
			if f.reason != reasonNotProposed && f.reason != reasonOverloaded {
				// The node is not (or no longer) a working leader.
				c.forgetLeader(target)
			}
		}
		hops = 0
		if err := c.pauseAtLeast(ctx, &pauses, f.retryAfter); err != nil {
			return giveUp(err, lastErr)
		}
	}
}

// discover asks target for the membership and returns the leader's gRPC
// address ("" if target knows no leader) and whether target is degraded (it
// lost its quorum; its leader hints are then ignored). Each attempt is
// bounded by twice DialTimeout so that one silent member cannot use up the
// caller's budget.
func (c *Client) discover(ctx context.Context, target string) (leader string, degraded bool, err error) {
	resp, err := c.membersOf(ctx, target)
	if err != nil {
		return "", false, err
	}
	c.learn(resp.GetMembers())
	c.observe(resp.GetHeader())
	if l := c.Leader(); l != "" {
		return l, false, nil
	}
	if resp.GetHeader().GetDegraded() {
		return "", true, nil
	}
	for _, m := range resp.GetMembers() {
		if m.GetLeader() && m.GetGrpcAddr() != "" {
			c.followHint(m.GetGrpcAddr(), m.GetId())
			return m.GetGrpcAddr(), false, nil
		}
	}
	return "", false, nil
}

// unswept returns the next member to try in a NO_QUORUM sweep: the believed
// leader if not yet tried, else the first candidate not yet tried, else "".
func (c *Client) unswept(sweep map[string]bool) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != "" && !sweep[c.leader] {
		return c.leader
	}
	for _, a := range c.candidatesLocked() {
		if !sweep[a] {
			return a
		}
	}
	return ""
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

// electionWait is how much longer a call that met NO_QUORUM everywhere
// keeps sweeping: until NoQuorumGrace has passed since the earliest moment
// a member reported it last saw a leader (since, by the server's clock), and at most
// NoQuorumGrace after the first NO_QUORUM answer (first, by the client's
// clock, which bounds the wait whatever the clock skew). A quorum lost
// longer ago, or an answer without "since", gets no wait: the call fails
// at once.
func (c *Client) electionWait(first, since time.Time) time.Duration {
	grace := c.cfg.NoQuorumGrace
	if grace <= 0 || since.IsZero() {
		return 0
	}
	end := since.Add(grace)
	if limit := first.Add(grace); limit.Before(end) {
		end = limit
	}
	return time.Until(end)
}

// pause sleeps for the n-th jittered exponential backoff, or until ctx is
// done, in which case it returns ctx.Err().
func (c *Client) pause(ctx context.Context, n *int) error {
	return sleep(ctx, c.backoffDelay(n))
}

// pauseAtLeast is pause, but sleeps at least hint (the server's RetryInfo)
// plus up to half of it again as jitter, so that clients refused together
// do not come back together.
func (c *Client) pauseAtLeast(ctx context.Context, n *int, hint time.Duration) error {
	d := c.backoffDelay(n)
	if hint > 0 {
		d = max(d, hint+rand.N(hint/2+1))
	}
	return sleep(ctx, d)
}

// backoffDelay returns the n-th jittered exponential backoff and counts it.
func (c *Client) backoffDelay(n *int) time.Duration {
	d := c.cfg.BackoffBase << min(*n, 30)
	if d <= 0 || d > c.cfg.BackoffMax {
		d = c.cfg.BackoffMax
	}
	*n++
	return d/2 + rand.N(d/2+1) // jitter: half to full length
}

// sleep waits for d, or until ctx is done, in which case it returns
// ctx.Err().
func sleep(ctx context.Context, d time.Duration) error {
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
