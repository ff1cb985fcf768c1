package raftnode

import "sync"

// readRound is one leadership check (raft's VerifyLeader) shared by every
// linearizable read that joined it before it started, as etcd batches its
// ReadIndex requests: under a read load one quorum round and one commit
// index serve a whole batch, instead of one VerifyLeader future, one trip
// through raft's main loop and one waiting goroutine per read.
type readRound struct {
	done    chan struct{} // closed when the check has finished
	index   uint64        // the commit index, read as the round started
	err     error         // VerifyLeader's outcome; set before done is closed
	readers int           // reads that joined it (guarded by readRounds.mu)
}

// readRounds runs rounds one after another on one goroutine, which exits
// when no read is waiting: a read that arrives while a round is in flight
// joins the next one.
type readRounds struct {
	mu      sync.Mutex
	next    *readRound // the round reads are joining; nil when none waits
	running bool       // the round goroutine is running
	rounds  uint64     // rounds run so far
	// beforeRound, when not nil, runs before each round is taken (a test
	// hook: HoldReadRounds).
	beforeRound func()
}

// joinReadRound returns the round the caller's read waits for. It has not
// started yet, so its commit index is read after the caller arrived, and
// its leadership check is made after that: the ReadIndex order.
func (n *Node) joinReadRound() *readRound {
	rr := &n.rounds
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.next == nil {
		rr.next = &readRound{done: make(chan struct{})}
	}
	rr.next.readers++
	if !rr.running {
		rr.running = true
		go n.runReadRounds()
	}
	return rr.next
}

// runReadRounds runs the waiting rounds until none is left. A round ends
// when raft answers VerifyLeader, which it always does: with success, with
// ErrNotLeader or ErrLeadershipLost once leadership is lost (the leader
// steps down after a lease without a quorum), or with ErrRaftShutdown.
func (n *Node) runReadRounds() {
	rr := &n.rounds
	for {
		rr.mu.Lock()
		if hook := rr.beforeRound; hook != nil {
			rr.mu.Unlock()
			hook()
			rr.mu.Lock()
		}
		r := rr.next
		rr.next = nil
		if r == nil {
			rr.running = false
			rr.mu.Unlock()
			return
		}
		rr.rounds++
		rr.mu.Unlock()
		r.index = n.raft.CommitIndex()
		r.err = n.raft.VerifyLeader().Error()
		close(r.done)
	}
}
