package raftnode

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/raft"
)

// parallelLog lets the leader write its log in parallel with replicating
// it, as etcd does and the Raft thesis allows (§10.2.1), instead of
// hashicorp/raft's order: fsync on the leader, then send to followers. A
// write then waits for the slower of the two fsyncs, not for both in turn.
//
// On the leader, StoreLogs of command entries queues them and returns; a
// writer goroutine appends and fsyncs everything queued in one call to the
// store underneath. Queued entries are served from memory until they are on
// disk. Everything else is written before StoreLogs returns, after the
// queue has drained: a follower's entries (it acknowledges them to the
// leader as durable), and configuration, no-op and barrier entries.
//
// Raft counts the leader towards the commit quorum as soon as StoreLogs
// returns, so raft's commit index may include entries only followers hold
// on disk. Nothing may act on such an entry until the leader's copy is
// durable too, so that a durable majority stands behind it:
//   - the FSM adapter waits for it before applying (WaitDurable), so no
//     write is acknowledged and no linearizable read returns it early;
//   - the transport caps the commit index sent to followers at the
//     leader's durable index (DurableCap), so no follower applies it early.
//
// An entry applied anywhere is thus on disk on the leader and on the
// followers that matched it: a majority, which every future leader's
// election intersects. If the leader dies before its write lands, the
// entry was never applied or acknowledged, like any uncommitted entry.
//
// A failed write is fatal: later calls fail with it, and WaitDurable
// returns it so the FSM adapter stops the node.
type parallelLog struct {
	raft.LogStore // the store underneath (through which reads not served here go)

	// leading reports whether this node is raft's leader. Raft changes its
	// state on the goroutine that calls StoreLogs, so the answer cannot
	// change during a call. Nil until raft runs: everything is written in
	// line.
	leading atomic.Pointer[func() bool]

	writeMu sync.Mutex // serialises writes (StoreLogs, DeleteRange) to LogStore

	mu      sync.Mutex
	queued  []*raft.Log   // entries not yet on disk, consecutive indexes; guarded by mu
	err     error         // the first failed write, sticky; guarded by mu
	closed  bool          // guarded by mu
	written chan struct{} // closed and replaced when queued shrinks or err is set; guarded by mu
	kick    chan struct{} // size 1: wakes the writer
	done    chan struct{} // closed when the writer has exited

	// beforeWrite, when set, runs in the writer before each write of
	// queued entries; an error it returns fails the write (test hooks:
	// HoldLeaderLogWrites, FailLeaderLogWrites).
	beforeWrite atomic.Pointer[func() error]

	// firstQueued is queued[0].Index, or 0 when nothing is queued: every
	// entry below it (every entry, when 0) is on disk. Read without mu by
	// DurableCap and WaitDurable's fast path.
	firstQueued atomic.Uint64
}

// leaderAppendWaitMetricKey is the go-metrics timer of how long the FSM
// waited for the leader's own write of entries already committed.
var leaderAppendWaitMetricKey = []string{"raft", "leader", "appendWait"}

func newParallelLog(store raft.LogStore) *parallelLog {
	p := &parallelLog{
		LogStore: store,
		written:  make(chan struct{}),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	go p.writer()
	return p
}

// setLeading installs the leadership check once raft runs.
func (p *parallelLog) setLeading(f func() bool) { p.leading.Store(&f) }

// StoreLog implements raft.LogStore.
func (p *parallelLog) StoreLog(l *raft.Log) error { return p.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore: it queues a leader's command entries
// and writes everything else in line.
func (p *parallelLog) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	if !p.queueable(logs) {
		if err := p.drain(); err != nil {
			return err
		}
		p.writeMu.Lock()
		defer p.writeMu.Unlock()
		return p.LogStore.StoreLogs(logs)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.usable(); err != nil {
		return err
	}
	if len(p.queued) > 0 {
		if want := p.queued[len(p.queued)-1].Index + 1; logs[0].Index != want {
			return fmt.Errorf("append entry %d after queued entry %d: raft log must be consecutive", logs[0].Index, want-1)
		}
	} else {
		p.firstQueued.Store(logs[0].Index)
	}
	p.queued = append(p.queued, logs...)
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return nil
}

// queueable reports whether logs may be written after StoreLogs returns:
// only a leader's command entries.
func (p *parallelLog) queueable(logs []*raft.Log) bool {
	leading := p.leading.Load()
	if leading == nil || !(*leading)() {
		return false
	}
	for _, l := range logs {
		if l.Type != raft.LogCommand {
			return false
		}
	}
	return true
}

// usable returns why the log can take no more writes, if it cannot.
// Called with mu held.
func (p *parallelLog) usable() error {
	switch {
	case p.err != nil:
		return p.err
	case p.closed:
		return errors.New("raft log store is closed")
	}
	return nil
}

// writer appends and fsyncs queued entries, all that are queued at once,
// until Close.
func (p *parallelLog) writer() {
	defer close(p.done)
	for range p.kick {
		for {
			p.mu.Lock()
			batch := p.queued
			if len(batch) == 0 || p.err != nil {
				p.mu.Unlock()
				break
			}
			p.mu.Unlock()

			var err error
			if hook := p.beforeWrite.Load(); hook != nil {
				err = (*hook)()
			}
			if err == nil {
				p.writeMu.Lock()
				err = p.LogStore.StoreLogs(batch)
				p.writeMu.Unlock()
			}

			p.mu.Lock()
			if err != nil {
				p.err = fmt.Errorf("write raft log entries %d-%d: %w", batch[0].Index, batch[len(batch)-1].Index, err)
			} else {
				// Only StoreLogs appends to queued (never reslicing its
				// head), so batch is still its prefix. Drop the written
				// entries from the backing array so they can be freed.
				clear(p.queued[:len(batch)])
				p.queued = p.queued[len(batch):]
				if len(p.queued) == 0 {
					p.queued = nil
					p.firstQueued.Store(0)
				} else {
					p.firstQueued.Store(p.queued[0].Index)
				}
			}
			close(p.written)
			p.written = make(chan struct{})
			p.mu.Unlock()
		}
	}
}

// drain waits until nothing is queued. Only raft's main goroutine queues
// entries, so when it calls drain nothing new is queued behind it.
func (p *parallelLog) drain() error {
	return p.waitWritten(func() bool { return len(p.queued) == 0 })
}

// WaitDurable blocks until entry index is on disk here, or returns the
// write error that means it never will be.
func (p *parallelLog) WaitDurable(index uint64) error {
	if first := p.firstQueued.Load(); first == 0 || index < first {
		return nil
	}
	defer gometrics.MeasureSince(leaderAppendWaitMetricKey, time.Now())
	return p.writtenThrough(index)
}

// writtenThrough waits until every entry up to index is on disk.
func (p *parallelLog) writtenThrough(index uint64) error {
	return p.waitWritten(func() bool { return len(p.queued) == 0 || index < p.queued[0].Index })
}

// waitWritten waits until done, checked with mu held, holds after a write,
// or returns the error of a failed write.
func (p *parallelLog) waitWritten(done func() bool) error {
	for {
		p.mu.Lock()
		if err := p.err; err != nil {
			p.mu.Unlock()
			return err
		}
		if done() {
			p.mu.Unlock()
			return nil
		}
		ch := p.written
		p.mu.Unlock()
		<-ch
	}
}

// DurableCap returns commit capped to the highest index below which every
// entry is on disk here: the most a follower may be told is committed.
func (p *parallelLog) DurableCap(commit uint64) uint64 {
	if first := p.firstQueued.Load(); first != 0 && commit >= first {
		return first - 1
	}
	return commit
}

// GetLog implements raft.LogStore, serving queued entries from memory.
func (p *parallelLog) GetLog(index uint64, l *raft.Log) error {
	if first := p.firstQueued.Load(); first != 0 && index >= first {
		p.mu.Lock()
		if n := len(p.queued); n > 0 && index >= p.queued[0].Index && index <= p.queued[n-1].Index {
			*l = *p.queued[index-p.queued[0].Index]
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
	}
	return p.LogStore.GetLog(index, l)
}

// FirstIndex implements raft.LogStore.
func (p *parallelLog) FirstIndex() (uint64, error) {
	first, err := p.LogStore.FirstIndex()
	if err != nil || first != 0 {
		return first, err
	}
	return p.firstQueued.Load(), nil // the disk holds nothing yet
}

// LastIndex implements raft.LogStore.
func (p *parallelLog) LastIndex() (uint64, error) {
	p.mu.Lock()
	if n := len(p.queued); n > 0 {
		last := p.queued[n-1].Index
		p.mu.Unlock()
		return last, nil
	}
	p.mu.Unlock()
	return p.LogStore.LastIndex()
}

// DeleteRange implements raft.LogStore. It first waits for the queued
// entries it covers to be written: removing a suffix (a follower's
// conflicting entries, or the whole log under a snapshot) covers them all;
// compaction, on the snapshot goroutine, removes a prefix of applied, so
// written, entries and need not wait.
func (p *parallelLog) DeleteRange(lo, hi uint64) error {
	if first := p.firstQueued.Load(); first != 0 && hi >= first {
		if err := p.writtenThrough(hi); err != nil {
			return err
		}
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	return p.LogStore.DeleteRange(lo, hi)
}

// IsMonotonic implements raft.MonotonicLogStore when the store underneath
// does; the embedded interface would hide it.
func (p *parallelLog) IsMonotonic() bool {
	m, ok := p.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// Close writes what is queued and stops the writer. It does not close the
// store underneath, which the node closes after it.
func (p *parallelLog) Close() error {
	err := p.drain()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return err
	}
	p.closed = true
	close(p.kick)
	p.mu.Unlock()
	<-p.done
	return err
}
