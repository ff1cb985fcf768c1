package client

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Tuning of the balancer's weights (see balancer).
const (
	// lagScale is the applied-index lag, in raft entries, at which a
	// member's weight halves. Normal replication lag under load is a few
	// entries to a few tens, which barely matters; a member that is
	// thousands behind (catching up from a snapshot) gets a small share.
	lagScale = 1000.0
	// lagSmoothing is the weight of a new lag sample in the moving average.
	lagSmoothing = 0.3
	// minWeight keeps every healthy member in the rotation: a lagging
	// member still serves a few reads, which is how its lag estimate
	// recovers once it catches up.
	minWeight = 0.05
)

// balancer spreads stale and bounded reads over the members (the leader
// included). It holds no connections and does no I/O; the client reports
// each attempt's outcome to it.
//
// Choice: power of two choices over weighted random picks. Two distinct
// healthy members are drawn at random, each with probability proportional
// to its weight, and the one with fewer reads in flight wins (the first on
// a tie, so a sequential caller gets exactly the weighted random
// distribution). A member's weight is 1 / (1 + lag/lagScale), halved again
// for each failure not yet followed by a success, and never below
// minWeight. lag is a moving average of how far the member's applied index
// was behind the highest index the client had seen when it answered, so
// it is measured at answer time and does not grow while a member is idle.
//
// Ejection: a member whose attempt fails (unreachable, shutting down, too
// stale) is left out for a backoff that starts at EjectBackoff and doubles
// with each consecutive failure up to EjectBackoffMax, jittered by ±25%.
// When it ends, the next pick starts one asynchronous probe (the probe
// hook); the member returns to the rotation only if the probe succeeds, so
// no read waits on a member that is still down. If every member is ejected
// the one whose ejection ends first is used anyway: a read is never refused
// by the client alone.
type balancer struct {
	now             func() time.Time
	backoff, maxOff time.Duration
	// probe starts an asynchronous check of a member whose ejection has
	// ended and must eventually call probed. It is called without mu held.
	probe func(addr string)
	// preferred, when not "", is the member that takes every read while it
	// is healthy (Config.PreferredEndpoint).
	preferred string

	mu sync.Mutex
	// The fields below are guarded by mu.
	members    map[string]*memberState // by client gRPC address
	sorted     []*memberState          // members by address, for pick
	maxApplied uint64                  // highest applied index seen in any header
}

// memberState is what the balancer knows about one member.
type memberState struct {
	addr         string
	id           string    // node id from its last answer ("" until it answered)
	inflight     int       // reads sent to it that have not finished
	lag          float64   // moving average of its applied-index lag
	fails        int       // consecutive failures (reset by a successful read)
	ejectedUntil time.Time // zero when in the rotation
	probing      bool      // a probe is in flight
}

// newBalancer returns a balancer over addrs.
func newBalancer(now func() time.Time, backoff, maxOff time.Duration, addrs []string) *balancer {
	b := &balancer{now: now, backoff: backoff, maxOff: maxOff, members: make(map[string]*memberState)}
	for _, a := range addrs {
		b.members[a] = &memberState{addr: a}
	}
	b.sortLocked()
	return b
}

// sortLocked rebuilds sorted from members. b.mu is held (or b is new).
func (b *balancer) sortLocked() {
	b.sorted = b.sorted[:0]
	for _, m := range b.members {
		b.sorted = append(b.sorted, m)
	}
	slices.SortFunc(b.sorted, func(x, y *memberState) int { return strings.Compare(x.addr, y.addr) })
}

// weight is the member's relative share of reads. b.mu is held.
func (m *memberState) weight() float64 {
	w := 1 / (1 + m.lag/lagScale)
	for range min(m.fails, 10) {
		w /= 2
	}
	return max(w, minWeight)
}

// pick chooses the member for the next attempt, skipping those in skip, and
// counts the attempt as in flight until succeeded, failed or release. It
// returns false when every member is in skip.
func (b *balancer) pick(skip map[string]bool) (string, bool) {
	b.mu.Lock()
	now := b.now()
	// Room for a usual cluster on the stack: pick runs on every stale read.
	var healthyBuf, ejectedBuf [8]*memberState
	healthy, ejected := healthyBuf[:0], ejectedBuf[:0]
	var probes []string
	var pref *memberState // the preferred member, when healthy and not skipped
	// Sorted, so that a given random draw always means the same member.
	for _, m := range b.sorted {
		if skip[m.addr] {
			continue
		}
		if m.ejectedUntil.IsZero() {
			healthy = append(healthy, m)
			if m.addr == b.preferred {
				pref = m
			}
			continue
		}
		if !now.Before(m.ejectedUntil) && !m.probing && b.probe != nil {
			m.probing = true
			probes = append(probes, m.addr)
		}
		ejected = append(ejected, m)
	}
	var chosen *memberState
	switch {
	case pref != nil:
		chosen = pref
	case len(healthy) > 0:
		chosen = twoChoices(healthy)
	case len(ejected) > 0:
		chosen = ejected[0]
		for _, m := range ejected[1:] {
			if m.ejectedUntil.Before(chosen.ejectedUntil) {
				chosen = m
			}
		}
	}
	if chosen != nil {
		chosen.inflight++
	}
	b.mu.Unlock()
	for _, addr := range probes {
		b.probe(addr)
	}
	if chosen == nil {
		return "", false
	}
	return chosen.addr, true
}

// twoChoices draws two distinct members by weight and returns the one with
// fewer reads in flight, the first on a tie. b.mu is held.
func twoChoices(ms []*memberState) *memberState {
	if len(ms) == 1 {
		return ms[0]
	}
	i := weightedIndex(ms, -1)
	j := weightedIndex(ms, i)
	if ms[j].inflight < ms[i].inflight {
		return ms[j]
	}
	return ms[i]
}

// weightedIndex draws an index of ms other than skip with probability
// proportional to weight. b.mu is held.
func weightedIndex(ms []*memberState, skip int) int {
	var total float64
	for k, m := range ms {
		if k != skip {
			total += m.weight()
		}
	}
	r := rand.Float64() * total
	last := -1
	for k, m := range ms {
		if k == skip {
			continue
		}
		last = k
		if r -= m.weight(); r < 0 {
			return k
		}
	}
	return last // only reached through floating-point rounding
}

// succeeded records an answer from addr with the given header fields; a
// zero applied index (an answer without a header, such as NotFound) updates
// only the member's health.
func (b *balancer) succeeded(addr, id string, applied uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.members[addr]
	if !ok {
		return // removed from the membership meanwhile
	}
	m.inflight--
	m.fails = 0
	if id != "" {
		m.id = id
	}
	if applied == 0 {
		return
	}
	b.maxApplied = max(b.maxApplied, applied)
	sample := float64(b.maxApplied - applied)
	m.lag += lagSmoothing * (sample - m.lag)
}

// failed records a failed attempt on addr and ejects it. It returns how
// long the member is left out.
func (b *balancer) failed(addr string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.members[addr]
	if !ok {
		return 0
	}
	m.inflight--
	return b.ejectLocked(m)
}

// ejectLocked leaves m out for its next backoff. b.mu is held.
func (b *balancer) ejectLocked(m *memberState) time.Duration {
	m.fails++
	d := b.backoff << min(m.fails-1, 30)
	if d <= 0 || d > b.maxOff {
		d = b.maxOff
	}
	d = d*3/4 + rand.N(d/2+1) // ±25%
	m.ejectedUntil = b.now().Add(d)
	return d
}

// release ends an attempt on addr that says nothing about the member's
// health (the caller's own error, or its context ending).
func (b *balancer) release(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m, ok := b.members[addr]; ok {
		m.inflight--
	}
}

// probed records a probe's result: ok returns the member to the rotation
// (still weighted down until a read succeeds there), otherwise it is
// ejected again with a longer backoff.
func (b *balancer) probed(addr string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, found := b.members[addr]
	if !found {
		return
	}
	m.probing = false
	if ok {
		m.ejectedUntil = time.Time{}
		return
	}
	b.ejectLocked(m)
}

// noteApplied records an applied index seen in any response header.
func (b *balancer) noteApplied(applied uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.maxApplied = max(b.maxApplied, applied)
}

// setMembers replaces the member set with addrs, keeping what is known
// about members that stay, and returns the added and removed addresses.
func (b *balancer) setMembers(addrs []string) (added, removed []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for addr := range b.members {
		if !slices.Contains(addrs, addr) {
			delete(b.members, addr)
			removed = append(removed, addr)
		}
	}
	for _, addr := range addrs {
		if _, ok := b.members[addr]; !ok {
			b.members[addr] = &memberState{addr: addr}
			added = append(added, addr)
		}
	}
	b.sortLocked()
	slices.Sort(removed)
	return added, removed
}

// addrs returns the members' addresses, sorted.
func (b *balancer) addrs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.members))
}

// ejected reports whether addr is currently out of the rotation.
func (b *balancer) ejected(addr string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.members[addr]
	return ok && !m.ejectedUntil.IsZero()
}
