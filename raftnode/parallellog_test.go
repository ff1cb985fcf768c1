package raftnode

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// gatedStore is an in-memory log store whose StoreLogs waits for a token
// on gate (when gate is not nil) and records the indexes of each call.
type gatedStore struct {
	*raft.InmemStore
	gate chan struct{}
	fail error // returned by StoreLogs when set

	mu     sync.Mutex
	writes [][]uint64 // indexes of each StoreLogs call, in order
}

func newGatedStore(gated bool) *gatedStore {
	s := &gatedStore{InmemStore: raft.NewInmemStore()}
	if gated {
		s.gate = make(chan struct{})
	}
	return s
}

func (s *gatedStore) StoreLogs(logs []*raft.Log) error {
	if s.gate != nil {
		<-s.gate
	}
	if s.fail != nil {
		return s.fail
	}
	var idx []uint64
	for _, l := range logs {
		idx = append(idx, l.Index)
	}
	s.mu.Lock()
	s.writes = append(s.writes, idx)
	s.mu.Unlock()
	return s.InmemStore.StoreLogs(logs)
}

func (s *gatedStore) written() [][]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.writes)
}

func entries(typ raft.LogType, from, to uint64) []*raft.Log {
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: typ, Data: fmt.Appendf(nil, "cmd %d", i)})
	}
	return logs
}

// newTestParallelLog wraps inner, leading while the returned flag is set
// (initially), and closes it at the end of the test.
func newTestParallelLog(t *testing.T, inner raft.LogStore) (*parallelLog, *atomic.Bool) {
	t.Helper()
	p := newParallelLog(inner)
	leading := new(atomic.Bool)
	leading.Store(true)
	p.setLeading(leading.Load)
	t.Cleanup(func() { _ = p.Close() })
	return p, leading
}

// returned reports whether ch delivers within a short grace period; used only
// to check that a call is still blocked (a false result is the expected
// outcome, so the wait bounds the test's run time, not its verdict).
func returned(ch <-chan error) bool {
	select {
	case <-ch:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

func TestParallelLog_LeaderQueuesCommandsAndServesThemUntilWritten(t *testing.T) {
	inner := newGatedStore(true)
	p, _ := newTestParallelLog(t, inner)

	if err := p.StoreLogs(entries(raft.LogCommand, 1, 3)); err != nil {
		t.Fatalf("StoreLogs: %v", err) // returned although the disk write is held
	}
	var l raft.Log
	if err := p.GetLog(2, &l); err != nil || string(l.Data) != "cmd 2" {
		t.Fatalf("GetLog(2) of a queued entry = %q, %v", l.Data, err)
	}
	if last, _ := p.LastIndex(); last != 3 {
		t.Fatalf("LastIndex = %d, want 3 (queued)", last)
	}
	if first, _ := p.FirstIndex(); first != 1 {
		t.Fatalf("FirstIndex = %d, want 1 (queued, disk empty)", first)
	}
	if got := p.DurableCap(3); got != 0 {
		t.Fatalf("DurableCap(3) = %d while nothing is on disk, want 0", got)
	}
	durable := make(chan error, 1)
	go func() { durable <- p.WaitDurable(3) }()
	if returned(durable) {
		t.Fatal("WaitDurable(3) returned before the entries were written")
	}

	inner.gate <- struct{}{} // let the writer's one call through
	if err := <-durable; err != nil {
		t.Fatalf("WaitDurable: %v", err)
	}
	if got := p.DurableCap(3); got != 3 {
		t.Fatalf("DurableCap(3) = %d once written, want 3", got)
	}
	if got := inner.written(); !slices.EqualFunc(got, [][]uint64{{1, 2, 3}}, slices.Equal) {
		t.Fatalf("disk writes = %v, want one of 1-3", got)
	}
	if err := inner.InmemStore.GetLog(3, &l); err != nil {
		t.Fatalf("entry 3 not on disk: %v", err)
	}
}

func TestParallelLog_WritesInLineWhenNotLeadingOrNotCommands(t *testing.T) {
	for _, tc := range []struct {
		name    string
		leading bool
		typ     raft.LogType
	}{
		{"follower command", false, raft.LogCommand},
		{"leader configuration", true, raft.LogConfiguration},
		{"leader barrier", true, raft.LogBarrier},
		{"leader no-op", true, raft.LogNoop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := newGatedStore(true)
			p, leading := newTestParallelLog(t, inner)
			if err := p.StoreLogs(entries(raft.LogCommand, 1, 2)); err != nil {
				t.Fatal(err)
			}
			leading.Store(tc.leading)

			stored := make(chan error, 1)
			go func() { stored <- p.StoreLogs(entries(tc.typ, 3, 3)) }()
			if returned(stored) {
				t.Fatal("StoreLogs returned before the queue ahead of it, and its own entry, were written")
			}
			inner.gate <- struct{}{} // the queued 1-2
			if returned(stored) {
				t.Fatal("StoreLogs returned before its own entry was written")
			}
			inner.gate <- struct{}{} // entry 3, in line
			if err := <-stored; err != nil {
				t.Fatalf("StoreLogs: %v", err)
			}
			if got := inner.written(); !slices.EqualFunc(got, [][]uint64{{1, 2}, {3}}, slices.Equal) {
				t.Fatalf("disk writes = %v, want 1-2 then 3", got)
			}
			if got := p.DurableCap(10); got != 10 {
				t.Fatalf("DurableCap(10) = %d with nothing queued, want 10", got)
			}
		})
	}
}

func TestParallelLog_DeleteSuffixWaitsForTheQueuePrefixDoesNot(t *testing.T) {
	inner := newGatedStore(false)
	p, leading := newTestParallelLog(t, inner)
	if err := p.StoreLogs(entries(raft.LogCommand, 1, 4)); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitDurable(4); err != nil {
		t.Fatal(err)
	}
	inner.gate = make(chan struct{}) // hold the next writes
	if err := p.StoreLogs(entries(raft.LogCommand, 5, 6)); err != nil {
		t.Fatal(err)
	}

	// Compaction removes a prefix while entries are queued.
	if err := p.DeleteRange(1, 2); err != nil {
		t.Fatalf("DeleteRange(1, 2): %v", err)
	}
	if first, _ := p.FirstIndex(); first != 3 {
		t.Fatalf("FirstIndex after compaction = %d, want 3", first)
	}

	leading.Store(false) // stepped down; the new leader's log conflicts from 5
	deleted := make(chan error, 1)
	go func() { deleted <- p.DeleteRange(5, 6) }()
	if returned(deleted) {
		t.Fatal("DeleteRange of queued entries returned before they were written")
	}
	inner.gate <- struct{}{}
	if err := <-deleted; err != nil {
		t.Fatalf("DeleteRange(5, 6): %v", err)
	}
	if last, _ := p.LastIndex(); last != 4 {
		t.Fatalf("LastIndex after removing the suffix = %d, want 4", last)
	}
}

func TestParallelLog_FailedWriteIsSticky(t *testing.T) {
	inner := newGatedStore(false)
	inner.fail = errors.New("disk on fire")
	p, leading := newTestParallelLog(t, inner)
	if err := p.StoreLogs(entries(raft.LogCommand, 1, 1)); err != nil {
		t.Fatal(err) // queued: the failure comes later
	}
	if err := p.WaitDurable(1); !errors.Is(err, inner.fail) {
		t.Fatalf("WaitDurable = %v, want the write error", err)
	}
	if err := p.StoreLogs(entries(raft.LogCommand, 2, 2)); !errors.Is(err, inner.fail) {
		t.Fatalf("StoreLogs after a failed write = %v, want the write error", err)
	}
	leading.Store(false)
	if err := p.StoreLogs(entries(raft.LogCommand, 2, 2)); !errors.Is(err, inner.fail) {
		t.Fatalf("in-line StoreLogs after a failed write = %v, want the write error", err)
	}
	if got := p.DurableCap(5); got != 0 {
		t.Fatalf("DurableCap(5) = %d after entry 1 failed, want 0", got)
	}
}

func TestParallelLog_CloseWritesWhatIsQueued(t *testing.T) {
	inner := newGatedStore(true)
	p := newParallelLog(inner)
	p.setLeading(func() bool { return true })
	if err := p.StoreLogs(entries(raft.LogCommand, 1, 2)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	if returned(closed) {
		t.Fatal("Close returned before the queued entries were written")
	}
	inner.gate <- struct{}{}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if last, _ := inner.LastIndex(); last != 2 {
		t.Fatalf("disk LastIndex after Close = %d, want 2", last)
	}
	if err := p.StoreLogs(entries(raft.LogCommand, 3, 3)); err == nil {
		t.Fatal("StoreLogs after Close queued an entry that would never be written")
	}
}
