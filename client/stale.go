package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// serverMinIndexWait is how long a server holds a read-your-writes read
// while it catches up before refusing it (rpc's minIndexWait). A stale
// attempt gets this much on top of DialTimeout before the client gives up on
// the member and tries another.
const serverMinIndexWait = time.Second

// read runs a Get or List at o's consistency and returns the header of the
// answer. call builds one attempt for the given wire read options.
func (c *Client) read(ctx context.Context, method string, o readOptions, call func(*kvpb.ReadOptions) attemptFunc) (Header, error) {
	if err := ctx.Err(); err != nil {
		return Header{}, err
	}
	// One budget for the linearizable attempt and a degraded fallback.
	ctx, cancel := c.budget(ctx)
	defer cancel()
	if o.consistency != Linearizable {
		return c.readStale(ctx, method, o, call)
	}
	var hdr *kvpb.ResponseHeader
	fn := call(o.wire(0))
	err := c.invoke(ctx, method, readOp, nil, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		h, err := fn(ctx, cc, opts...)
		hdr = h
		return h, err
	})
	if err == nil {
		// The leader's applied index covers every write acknowledged before
		// this read: later stale reads must not go back before it.
		c.noteIndex(hdr.GetAppliedIndex())
		h := headerFrom(hdr)
		if h.Consistency == 0 {
			h.Consistency = Linearizable // servers before consistency levels do not say
		}
		return h, nil
	}
	if !o.degraded || !errors.Is(err, ErrNoQuorum) {
		return Header{}, err
	}
	c.log.Info("no quorum; falling back to a stale read", "method", method, "err", err)
	o.consistency = Stale
	h, serr := c.readStale(ctx, method, o, call)
	if serr != nil {
		return Header{}, fmt.Errorf("%w; the stale fallback failed too: %w", err, serr)
	}
	h.Consistency, h.Degraded = Stale, true
	return h, nil
}

// readStale runs a stale or bounded read through invokeStale.
func (c *Client) readStale(ctx context.Context, method string, o readOptions, call func(*kvpb.ReadOptions) attemptFunc) (Header, error) {
	var hdr *kvpb.ResponseHeader
	fn := call(o.wire(c.seen.Load()))
	err := c.invokeStale(ctx, method, func(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (*kvpb.ResponseHeader, error) {
		h, err := fn(ctx, cc, opts...)
		hdr = h
		return h, err
	})
	if err != nil {
		return Header{}, err
	}
	return headerFrom(hdr), nil
}

// invokeStale runs fn, a stale or bounded read, on a member chosen by the
// balancer. When the member fails (unreachable, shutting down, refusing the
// read as too stale, or silent past DialTimeout plus the server's
// read-your-writes wait) it is ejected and the read is sent at once to
// another member: stale reads are idempotent. A round ends when every member
// has failed once. If any of them refused the read as too stale, the call
// fails with ErrStale; otherwise (all unreachable, say during a restart) the
// client pauses with backoff and starts a new round, until ctx ends.
func (c *Client) invokeStale(ctx context.Context, method string, fn attemptFunc) error {
	c.ensureMembers(ctx)
	var (
		tried   map[string]bool // members failed this round; nil until one fails
		lastErr error           // latest failure, reported if time runs out
		staleEr error           // latest STALE refusal this round
		pauses  int
	)
	for attempt := 1; ; attempt++ {
		if c.isClosed() {
			return ErrClosed
		}
		if cerr := done(ctx); cerr != nil {
			return giveUp(cerr, lastErr)
		}
		target, ok := c.bal.pick(tried)
		if !ok {
			if staleEr != nil {
				return fmt.Errorf("%w (%d members tried)", staleEr, len(tried))
			}
			clear(tried)
			if err := c.pause(ctx, &pauses); err != nil {
				return giveUp(err, lastErr)
			}
			continue
		}
		cc, err := c.caller(target)
		if err != nil {
			c.bal.release(target)
			return err
		}
		actx, cancel := c.attemptContext(ctx)
		hdr, err := fn(actx, cc)
		cancel()
		if err == nil {
			c.bal.succeeded(target, hdr.GetNodeId(), hdr.GetAppliedIndex())
			c.observe(hdr)
			return nil
		}
		if c.isClosed() {
			c.bal.release(target)
			return ErrClosed
		}
		f := classify(target, err)
		if (f.code == codes.Canceled || f.code == codes.DeadlineExceeded) && done(ctx) == nil {
			// Not the caller's context: the attempt timed out, or the
			// connection was closed under it. The member failed.
			f.code, f.reason = codes.Unavailable, ""
		}
		ferr := f.toError(false, true)
		c.log.Debug("stale attempt failed", "method", method, "target", target, "attempt", attempt,
			"code", f.code.String(), "reason", f.reason, "err", err)
		switch {
		case f.code == codes.NotFound:
			c.bal.succeeded(target, "", 0) // a proper answer
			return ferr
		case done(ctx) != nil:
			c.bal.release(target)
			switch {
			case !isContextErr(ferr):
				return giveUp(done(ctx), ferr)
			case lastErr != nil:
				return giveUp(done(ctx), lastErr)
			}
			return ferr
		case f.code != codes.Unavailable:
			c.bal.release(target)
			return ferr
		}
		d := c.bal.failed(target)
		if tried == nil {
			tried = make(map[string]bool)
		}
		tried[target] = true
		lastErr = ferr
		if f.reason == reasonStale {
			staleEr = ferr
		} else {
			c.kickRefresh() // the member may have left the cluster
		}
		c.log.Debug("member ejected", "target", target, "for", d, "reason", f.reason)
	}
}

// attemptContext bounds one stale attempt, so that a member that accepts
// the call but never answers costs DialTimeout plus the server's
// read-your-writes wait, not the caller's whole budget.
func (c *Client) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	limit := c.cfg.DialTimeout + serverMinIndexWait
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= limit {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, limit)
}
