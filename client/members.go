package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// minRefreshGap spaces refreshes asked for after failures, so that a burst
// of failed reads costs one Members call, not one each.
const minRefreshGap = 200 * time.Millisecond

// learn makes members (a Members answer) the client's membership: the
// failover candidates for writes and linearizable reads, and the balancer's
// set for stale reads. Members that left are dropped, and their connections
// closed unless they are also configured endpoints. Members without a
// client address yet are skipped (and a refresh is asked for, to learn
// them soon); an answer with none is ignored.
func (c *Client) learn(members []*kvpb.Member) {
	var addrs []string
	incomplete := false
	for _, m := range members {
		a := m.GetGrpcAddr()
		if a == "" {
			incomplete = true
		} else if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	if incomplete {
		// A member has not registered its client address yet (it just
		// joined, or the cluster just started): ask again soon, or the
		// client could not fail over to it.
		c.kickRefresh()
	}
	if len(addrs) == 0 {
		return
	}
	added, removed := c.bal.setMembers(addrs)
	c.mu.Lock()
	c.members = addrs
	c.discovered = true
	var stale []*grpc.ClientConn
	for _, a := range removed {
		if cc, ok := c.conns[a]; ok && !slices.Contains(c.endpoints, a) && a != c.leader {
			stale = append(stale, cc)
			delete(c.conns, a)
			delete(c.batchers, a)
		}
	}
	c.mu.Unlock()
	if len(added) > 0 || len(removed) > 0 {
		c.log.Info("membership changed", "added", added, "removed", removed, "members", addrs)
	}
	// A read in flight on a closed connection fails with Canceled, which the
	// retry loops treat as that member failing, not as the caller's cancel.
	for _, cc := range stale {
		_ = cc.Close()
	}
}

// kickRefresh asks the refresh loop for an early membership refresh.
func (c *Client) kickRefresh() {
	select {
	case c.kick <- struct{}{}:
	default: // one is already pending
	}
}

// refreshLoop refreshes the membership every MemberRefresh (unless that is
// negative) and when kicked, until ctx ends.
func (c *Client) refreshLoop(ctx context.Context) {
	var tick <-chan time.Time
	if c.cfg.MemberRefresh > 0 {
		t := time.NewTicker(c.cfg.MemberRefresh)
		defer t.Stop()
		tick = t.C
	}
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-c.kick:
			if wait := minRefreshGap - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
		last = time.Now()
		if err := c.refreshMembers(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug("membership refresh failed", "err", err)
		}
	}
}

// ensureMembers learns the membership before the first stale read, so that
// it is spread over every member from the start rather than over the
// configured endpoints only. It spends at most DialTimeout of ctx; on
// failure the read goes to the configured endpoints and the refresh loop
// keeps trying.
func (c *Client) ensureMembers(ctx context.Context) {
	c.mu.Lock()
	done := c.discovered
	c.mu.Unlock()
	if done {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.Lock()
	done = c.discovered
	c.mu.Unlock()
	if done {
		return // learned while this call waited
	}
	if err := c.refreshLocked(ctx); err != nil {
		c.log.Debug("membership discovery failed; using the configured endpoints", "err", err)
		c.kickRefresh()
	}
}

// refreshMembers asks the leader, else the known members in random order,
// else the configured endpoints, for the membership and learns the first
// answer from a node that is not degraded. A degraded node may have missed
// membership changes, so its answer is used only when no other node
// answers.
func (c *Client) refreshMembers(ctx context.Context) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	return c.refreshLocked(ctx)
}

// refreshLocked is refreshMembers with c.refreshMu held.
func (c *Client) refreshLocked(ctx context.Context) error {
	c.mu.Lock()
	leader := c.leader
	members := slices.Clone(c.members)
	c.mu.Unlock()
	rand.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	var targets []string
	for _, group := range [][]string{{leader}, members, c.endpoints} {
		for _, t := range group {
			if t != "" && !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
	}
	var (
		fallback *kvpb.MembersResponse
		errs     []error
	)
	for _, t := range targets {
		resp, err := c.membersOf(ctx, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if resp.GetHeader().GetDegraded() {
			if fallback == nil {
				fallback = resp
			}
			continue
		}
		c.learn(resp.GetMembers())
		c.observe(resp.GetHeader())
		return nil
	}
	if fallback != nil {
		c.learn(fallback.GetMembers())
		return nil
	}
	return fmt.Errorf("ask for the membership: %w", errors.Join(errs...))
}

// membersOf sends one Members call to target, bounded by twice DialTimeout.
func (c *Client) membersOf(ctx context.Context, target string) (*kvpb.MembersResponse, error) {
	cc, err := c.conn(target)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*c.cfg.DialTimeout)
	defer cancel()
	return kvpb.NewClusterClient(cc).Members(ctx, &kvpb.MembersRequest{})
}

// probe checks, in the background, whether the ejected member at addr can
// serve again: it must answer Status within twice DialTimeout, and have
// applied this client's latest write (or it would refuse read-your-writes
// reads anyway). The result goes to the balancer.
func (c *Client) probe(addr string) {
	c.goBackground(func(ctx context.Context) {
		ok := false
		defer func() { c.bal.probed(addr, ok) }()
		cc, err := c.conn(addr)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, 2*c.cfg.DialTimeout)
		defer cancel()
		st, err := kvpb.NewClusterClient(cc).Status(ctx, &kvpb.StatusRequest{})
		if err != nil {
			c.log.Debug("probe failed", "target", addr, "err", err)
			return
		}
		ok = st.GetAppliedIndex() >= c.seen.Load()
		c.log.Debug("probed", "target", addr, "node_id", st.GetId(), "ok", ok)
	})
}
