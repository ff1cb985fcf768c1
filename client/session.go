package client

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// clientIDBytes is the length of a random client id: 128 bits, so that two
// clients never share one by chance.
const clientIDBytes = 16

// maxRenewals bounds how often one write is re-sent under a new request id
// after the server refused the old one as too old or expired.
const maxRenewals = 3

// maxInFlightWrites bounds the writes one client has started but not
// finished. The server keeps at most 256 results per client
// (store.MaxSessionResults) and drops the lowest first, so a client with
// more writes outstanding could see the result of a write it is still
// retrying dropped, and the retry refused as too old. A write that would
// exceed the bound waits for an earlier one to finish (flow control).
const maxInFlightWrites = 256

// session is the client's exactly-once identity towards the cluster: a
// random client id and the sequence numbers of its writes (see
// kvpb.RequestID). The server keeps each client's recent results and
// answers a repeated (client id, seq) with the stored result, which is what
// lets the client retry a write whose outcome it does not know.
type session struct {
	id []byte // immutable

	mu sync.Mutex
	// The fields below are guarded by mu.
	next  uint64          // the next seq to hand out
	floor uint64          // the lowest seq not yet finished (min_unacked_seq)
	done  map[uint64]bool // finished seqs above floor
	index uint64          // a raft index at which the server held this session; 0 until one is known
	freed chan struct{}   // closed and replaced whenever floor advances
}

// newSession returns a session with a fresh random client id.
func newSession() *session {
	id := make([]byte, clientIDBytes)
	// crypto/rand.Read never fails (it crashes the program if the system
	// cannot provide randomness) and always fills id.
	_, _ = rand.Read(id)
	return &session{id: id, next: 1, floor: 1, done: make(map[uint64]bool), freed: make(chan struct{})}
}

// begin hands out the next seq.
func (s *session) begin(ctx context.Context) (uint64, error) {
	s.mu.Lock()
	for s.next-s.floor >= maxInFlightWrites {
		freed := s.freed
		s.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for one of %d writes in flight to finish: %w", maxInFlightWrites, ctx.Err())
		}
		s.mu.Lock()
	}
	seq := s.next
	s.next++
	s.mu.Unlock()
	return seq, nil
}

func (s *session) finish(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq < s.floor {
		return
	}
	s.done[seq] = true
	advanced := false
	for s.done[s.floor] {
		delete(s.done, s.floor)
		s.floor++
		advanced = true
	}
	if advanced {
		close(s.freed)
		s.freed = make(chan struct{})
	}
}

// answered records a raft index at which the server held this session.
func (s *session) answered(index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index == 0 {
		s.index = index
	}
}

// writeID is the request id of one write call, kept across its attempts.
type writeID struct {
	c        *Client
	s        *session
	seq      uint64
	renewals int // times renew was called
}

// newWriteID starts a write under the client's current session.
func (c *Client) newWriteID(ctx context.Context) (*writeID, error) {
	s := c.currentSession()
	seq, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	return &writeID{c: c, s: s, seq: seq}, nil
}

// currentSession returns the session new writes use.
func (c *Client) currentSession() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// proto is the request id for the next attempt. min_unacked_seq and
// session_index are read afresh, so a long retry carries the latest.
func (w *writeID) proto() *kvpb.RequestID {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return &kvpb.RequestID{
		ClientId:      w.s.id,
		Seq:           w.seq,
		MinUnackedSeq: w.s.floor,
		SessionIndex:  w.s.index,
	}
}

// answered records the index of the write's answer.
func (w *writeID) answered(index uint64) {
	if index > 0 {
		w.s.answered(index)
	}
}

// finish ends the write: its seq will not be sent again.
func (w *writeID) finish() { w.s.finish(w.seq) }

// renew gives the write a new seq after the server refused the old one,
// which it may do only while no attempt can have been applied. After
// SESSION_EXPIRED the whole client moves to a new session (unless another
// write already did).
func (w *writeID) renew(ctx context.Context, expired bool) error {
	w.finish()
	w.renewals++
	if expired {
		w.c.mu.Lock()
		if w.c.sess == w.s {
			w.c.sess = newSession()
			w.c.log.Info("server no longer remembers this client; continuing under a new client id")
		}
		w.c.mu.Unlock()
	}
	w.s = w.c.currentSession()
	seq, err := w.s.begin(ctx)
	if err != nil {
		return err
	}
	w.seq = seq
	return nil
}
