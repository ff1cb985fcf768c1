package rpc

import (
	"context"
	"fmt"
	"time"
)

// Default admission limits (Config.MaxInflightWrites, MaxInflightReads).
//
// A limit bounds the time an admitted request waits: by Little's law a
// node that commits C writes/s with L of them in flight answers each in
// about L/C seconds. A leader on modest hardware commits ~2,000 writes/s
// (an fsync per raft batch), so 256 in flight keeps an admitted write's
// wait near 0.1 s, well inside a 1 s deadline, while 256 concurrent
// writers are still several full raft batches (64 entries each): the
// limit never caps throughput. Measured at 4x the sustainable write rate,
// open loop, 1 s deadlines (docs/benchmarks.md): 256 kept goodput at 99%
// of capacity, 1024 let the queue outgrow the deadline (19%), no limit
// collapsed to 3%. Reads are a local bbolt transaction after at most one
// batched ReadIndex round, several times cheaper, so 1024 may be in
// flight. The limits count requests, not bytes: the request size cap
// (MaxRequestBytes) bounds one request's memory.
const (
	// DefaultMaxInflightWrites bounds concurrent Put, Delete,
	// CompareAndSwap and Join calls on one node.
	DefaultMaxInflightWrites = 256
	// DefaultMaxInflightReads bounds concurrent Get and List calls.
	DefaultMaxInflightReads = 1024
	// DefaultOverloadRetryAfter is the retry hint sent with OVERLOADED:
	// about one raft commit round trip plus a batch, so a retrying client
	// finds freed slots without hammering the node.
	DefaultOverloadRetryAfter = 50 * time.Millisecond
	// DefaultAdmissionWait is how long a request that finds every slot
	// taken may wait for one (with at most as many others waiting as
	// there are slots) before it is refused: a few commits' worth, so
	// slots freed under overload are reused at once.
	DefaultAdmissionWait = 20 * time.Millisecond
)

// admissionClass says which semaphore a method takes.
type admissionClass int

const (
	// classOpen methods are never limited: Members, Status, health and
	// reflection stay answerable under overload, so operators and clients
	// can still see the cluster.
	classOpen admissionClass = iota + 1
	// classWrite methods propose to raft.
	classWrite
	// classRead methods read the state machine.
	classRead
)

// methodClass maps a full gRPC method name to its admission class.
func methodClass(fullMethod string) admissionClass {
	switch fullMethod {
	case "/kv.v1.KV/Put", "/kv.v1.KV/Delete", "/kv.v1.KV/CompareAndSwap", "/kv.v1.Cluster/Join":
		return classWrite
	case "/kv.v1.KV/Get", "/kv.v1.KV/List":
		return classRead
	}
	return classOpen
}

// gate admits up to cap(slots) requests at once. A request that finds
// every slot taken may wait up to wait for one, but only while fewer than
// cap(queue) others are waiting: a slot freed by a finished request goes
// straight to a waiter, so the node stays busy at its limit instead of
// idling while refused clients sleep out their retry hint, and the excess
// beyond limit+queue is refused at once. A nil gate admits everything.
type gate struct {
	slots chan struct{}
	queue chan struct{}
	wait  time.Duration
}

// newGate returns a gate for limit requests, letting as many more wait up
// to wait for a slot; nil (no limit) when limit <= 0.
func newGate(limit int, wait time.Duration) *gate {
	if limit <= 0 {
		return nil
	}
	return &gate{slots: make(chan struct{}, limit), queue: make(chan struct{}, limit), wait: wait}
}

// acquire takes a slot, waiting for one within the gate's rules; false
// means the request must be refused.
func (g *gate) acquire(ctx context.Context) bool {
	if g == nil {
		return true
	}
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	if g.wait <= 0 {
		return false
	}
	select {
	case g.queue <- struct{}{}:
	default:
		return false // the queue is full too
	}
	defer func() { <-g.queue }()
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (g *gate) release() {
	if g != nil {
		<-g.slots
	}
}

// inflight is the number of requests holding a slot.
func (g *gate) inflight() int {
	if g == nil {
		return 0
	}
	return len(g.slots)
}

// limit is the number of slots; 0 means unlimited.
func (g *gate) limit() int {
	if g == nil {
		return 0
	}
	return cap(g.slots)
}

// overloadedError refuses a request beyond the node's admission limit.
// Nothing was proposed or read, so the client may retry after retryAfter.
type overloadedError struct {
	class      string // "writes" or "reads"
	limit      int
	retryAfter time.Duration
}

func (e *overloadedError) Error() string {
	return fmt.Sprintf("node overloaded: %d %s already in flight (the limit); nothing was done, retry after %v",
		e.limit, e.class, e.retryAfter)
}

// admit takes a slot for a write or read when the node has fewer than
// its limit of them in flight, or when one finishes within the gate's
// short wait; otherwise it refuses at once, before any work is queued in
// raft. The caller releases the returned gate (nil for methods that are
// never limited; releasing nil does nothing) when the call ends. A
// forwarded request is counted on the follower that forwards it and again
// on the leader, since both hold it.
func (s *Server) admit(ctx context.Context, fullMethod string) (*gate, error) {
	var g *gate
	var class string
	switch methodClass(fullMethod) {
	case classWrite:
		g, class = s.writes, "writes"
	case classRead:
		g, class = s.reads, "reads"
	default:
		return nil, nil
	}
	if !g.acquire(ctx) {
		return nil, &overloadedError{class: class, limit: g.limit(), retryAfter: s.cfg.OverloadRetryAfter}
	}
	return g, nil
}

// Inflight reports how many writes and reads this node is handling now
// (for the raftkv_inflight_requests gauge).
func (s *Server) Inflight() (writes, reads int) {
	return s.writes.inflight(), s.reads.inflight()
}

// InflightLimits reports the admission limits in force; 0 means unlimited.
func (s *Server) InflightLimits() (writes, reads int) {
	return s.writes.limit(), s.reads.limit()
}
