package rpc

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
)

// Default admission limits (Config.MaxInflightWrites, MaxInflightReads).
//
// They bound work queued on a node, not throughput. By Little's law a
// leader committing a write in 2-5 ms (an fsync per raft batch) serves
// 1024 concurrent writes at 200k-500k writes/s, far beyond what one raft
// group with a bbolt state machine sustains, so a legitimate load never
// meets the limit; a load that does would only wait longer in raft's queue
// and time out. Reads cost less (ReadIndex is batched per heartbeat, the
// read itself is a local bbolt transaction), so four times as many may be
// outstanding. The limits count requests, not bytes: the request size cap
// (MaxRequestBytes) bounds one request's memory.
const (
	// DefaultMaxInflightWrites bounds concurrent Put, Delete,
	// CompareAndSwap and Join calls on one node.
	DefaultMaxInflightWrites = 1024
	// DefaultMaxInflightReads bounds concurrent Get and List calls.
	DefaultMaxInflightReads = 4096
	// DefaultOverloadRetryAfter is the retry hint sent with OVERLOADED:
	// about one raft commit round trip plus a batch, so a retrying client
	// finds freed slots without hammering the node.
	DefaultOverloadRetryAfter = 50 * time.Millisecond
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

// semaphore is a non-blocking counting semaphore; a nil semaphore admits
// everything. Its capacity is the channel's buffer: one slot per
// admitted request, so the buffer size is the configured limit.
type semaphore chan struct{}

func newSemaphore(n int) semaphore {
	if n <= 0 {
		return nil
	}
	return make(semaphore, n)
}

// tryAcquire takes a slot if one is free, without waiting.
func (s semaphore) tryAcquire() bool {
	if s == nil {
		return true
	}
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s semaphore) release() {
	if s != nil {
		<-s
	}
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

// admissionInterceptor refuses a write or read at once, before any work is
// queued, when the node already has its limit of them in flight. A
// forwarded request is counted on the follower that forwards it and again
// on the leader, since both hold it.
func (s *Server) admissionInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	var sem semaphore
	var e *overloadedError
	switch methodClass(info.FullMethod) {
	case classWrite:
		sem = s.writes
		e = &overloadedError{class: "writes", limit: cap(sem), retryAfter: s.cfg.OverloadRetryAfter}
	case classRead:
		sem = s.reads
		e = &overloadedError{class: "reads", limit: cap(sem), retryAfter: s.cfg.OverloadRetryAfter}
	default:
		return handler(ctx, req)
	}
	if !sem.tryAcquire() {
		return nil, e
	}
	defer sem.release()
	return handler(ctx, req)
}

// Inflight reports how many writes and reads this node is handling now
// (for the raftkv_inflight_requests gauge).
func (s *Server) Inflight() (writes, reads int) {
	return len(s.writes), len(s.reads)
}

// InflightLimits reports the admission limits in force; 0 means unlimited.
func (s *Server) InflightLimits() (writes, reads int) {
	return cap(s.writes), cap(s.reads)
}
