package store

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultCommitEntries is how many entries an accumulating transaction
// may hold when Options.CommitEntries is zero (see Options.CommitInterval).
const DefaultCommitEntries = 1000

// maxUncommittedBytes commits an accumulating transaction once the records
// it wrote add up to this much, whatever its age and entry count: the
// overlay holds a copy of each, and bbolt its dirty pages. Under client
// load the raft log's fsyncs bound how much arrives in CommitInterval, but
// a follower catching up is handed entries as fast as it applies them,
// and values may be up to MaxValueBytes.
const maxUncommittedBytes = 64 << 20

// pendingCommit is the bbolt write transaction that applied batches
// accumulate in between commits when Options.CommitInterval is set. It is
// touched only under applyMu with mu held shared, or under mu held
// exclusively (Restore, Close).
type pendingCommit struct {
	tx      *bolt.Tx
	fill    *tailFill // FillPercent for the commit, from every batch's keys
	began   time.Time
	entries int    // entries applied in tx
	bytes   int    // size of the data records written in tx
	batches int    // ApplyBatch calls applied in tx
	last    uint64 // applied index written in tx
}

// overlay makes what the open transaction holds visible to reads before
// it is committed, as etcd's backend does with its read buffer. It maps
// every data key written since the last commit to its record (nil: the key
// is deleted), and holds the applied index of the state that bbolt's last
// commit and vals make together.
//
// Readers hold mu shared for the whole read, bbolt transaction included;
// ApplyBatch records a batch, and a commit clears vals, holding it
// exclusively. Every value in vals is the key's latest, and a commit
// writes nothing newer than vals holds (applies wait for it), so any
// committed state a reader's bbolt transaction sees, overlaid with vals,
// is exactly the state at index.
type overlay struct {
	mu    sync.RWMutex
	vals  map[string][]byte
	index uint64
}

// lookup returns key's record as of the overlay: found is false when the
// key was not written since the last commit and bbolt must be asked.
// The caller holds mu shared.
func (o *overlay) lookup(key []byte) (v []byte, found bool) {
	v, found = o.vals[string(key)]
	return v, found
}

// withPrefix returns the overlay's keys that start with prefix, sorted.
// The caller holds mu shared.
func (o *overlay) withPrefix(prefix []byte) []string {
	var keys []string
	p := string(prefix)
	for k := range o.vals {
		if strings.HasPrefix(k, p) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// CommitStats describes the store's commits, for monitoring.
type CommitStats struct {
	// Commits is how many write transactions the store has committed
	// since Open.
	Commits uint64
	// CommitTime is the time spent in those commits, during which no
	// entry can be applied.
	CommitTime time.Duration
	// UncommittedEntries is how many applied entries wait, visible to
	// reads, for the next commit (Options.CommitInterval).
	UncommittedEntries int
}

// CommitStats returns the store's commit counters. It never blocks on
// an apply or a commit.
func (s *Store) CommitStats() CommitStats {
	return CommitStats{
		Commits:            s.commits.Load(),
		CommitTime:         time.Duration(s.commitNanos.Load()),
		UncommittedEntries: int(s.uncommitted.Load()),
	}
}

// openPending returns the accumulating transaction, beginning one if
// none is open. The caller holds applyMu and mu shared.
func (s *Store) openPending() (*pendingCommit, error) {
	if s.pending != nil {
		return s.pending, nil
	}
	tx, err := s.ref.db.Begin(true)
	if err != nil {
		return nil, fmt.Errorf("begin write transaction: %w", err)
	}
	s.pending = &pendingCommit{tx: tx, fill: newTailFill(tx.Bucket(bucketData)), began: time.Now()}
	return s.pending, nil
}

// abortPending rolls back the accumulating transaction after a failed
// apply. If it held earlier batches, those are visible through the overlay
// and acknowledged but are no longer in bbolt, so the store refuses every
// later apply (a fatal error; raft replays them after a restart).
func (s *Store) abortPending(cause error) {
	p := s.pending
	s.pending = nil
	s.uncommitted.Store(0)
	if err := p.tx.Rollback(); err != nil {
		s.log.Error("roll back write transaction", "err", err)
	}
	if p.batches > 0 {
		s.failed = fmt.Errorf("an earlier apply failed and rolled back entries up to %d: %w", p.last, cause)
	}
}

// settle finishes a batch applied into p: it commits p now if it is due,
// and otherwise makes the batch visible through the overlay and makes sure
// a commit follows within CommitInterval. touched are the data keys the
// batch may have written; force commits at once (the batch changed
// something reads take from bbolt alone). The caller holds applyMu and mu
// shared.
func (s *Store) settle(p *pendingCommit, touched [][]byte, force bool) error {
	// touched's records, valid until the transaction ends; not needed
	// when every batch is committed at once and the overlay stays empty.
	var recs [][]byte
	if s.commitInterval > 0 || len(s.ov.vals) > 0 {
		data := p.tx.Bucket(bucketData)
		recs = make([][]byte, len(touched))
		for i, k := range touched {
			recs[i] = data.Get(k)
			p.bytes += len(recs[i])
		}
	}
	due := force || s.commitInterval <= 0 || p.entries >= s.commitEntries ||
		p.bytes >= s.commitBytes || time.Since(p.began) >= s.commitInterval
	s.ov.mu.Lock()
	if !due || len(s.ov.vals) > 0 {
		// Keys from earlier batches are in the overlay and shadow bbolt,
		// so this batch's must be too, even when committing right away:
		// a reader between the commit and the clear would otherwise see
		// an earlier batch's value of a key this one changed.
		for i, k := range touched {
			s.ov.vals[string(k)] = bytes.Clone(recs[i])
		}
		s.ov.index = max(s.ov.index, p.last)
	}
	s.ov.mu.Unlock()
	if due {
		return s.commit(1)
	}
	s.uncommitted.Store(int64(p.entries))
	if !s.flushArmed {
		s.flushArmed = true
		s.flushTimer.Reset(max(s.commitInterval-time.Since(p.began), 0))
	}
	return nil
}

// commitPending commits the accumulating transaction, if any, and clears
// the overlay it was visible through. The caller holds applyMu and mu
// shared, or mu exclusively.
func (s *Store) commitPending() error { return s.commit(0) }

// commit is commitPending for a caller whose own ApplyBatch, the last
// unreported of the transaction's batches, has not returned yet. If the
// commit fails, bbolt rolls back every batch in it; when that includes
// batches already reported applied (and visible), the failure is sticky
// (see failed): the overlay keeps serving them, and nothing more is
// applied.
func (s *Store) commit(unreported int) error {
	p := s.pending
	if p == nil {
		return s.failed
	}
	s.pending = nil
	p.fill.apply()
	s.uncommitted.Store(0)
	start := time.Now()
	err := p.tx.Commit()
	s.commitNanos.Add(uint64(time.Since(start)))
	if err != nil {
		err = fmt.Errorf("commit entries up to %d: %w", p.last, err)
		if p.batches > unreported {
			s.failed = err
		}
		return err
	}
	s.commits.Add(1)
	s.ov.mu.Lock()
	clear(s.ov.vals)
	s.ov.index = max(s.ov.index, p.last)
	s.ov.mu.Unlock()
	return nil
}

// flushDue is the commit timer's callback: it commits what has waited
// CommitInterval when no apply has done so since.
func (s *Store) flushDue() {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.flushArmed = false
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || s.pending == nil {
		return
	}
	if err := s.commitPending(); err != nil {
		s.log.Error("commit applied entries; the store refuses further entries", "err", err)
	}
}

// Flush commits the entries applied since the last commit (see
// Options.CommitInterval). It returns the error that stopped the store
// from committing, if one did.
func (s *Store) Flush() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.commitPending()
}

// dropPending discards the accumulating transaction and the overlay; the
// caller holds mu exclusively and is about to replace the database.
func (s *Store) dropPending() {
	if p := s.pending; p != nil {
		s.pending = nil
		s.uncommitted.Store(0)
		if err := p.tx.Rollback(); err != nil {
			s.log.Warn("roll back write transaction", "err", err)
		}
	}
	s.ov.mu.Lock()
	clear(s.ov.vals)
	s.ov.index = 0
	s.ov.mu.Unlock()
}

// stateView is the store's current state as one read sees it: a bbolt
// read transaction with the overlay on top.
type stateView struct {
	tx *bolt.Tx
	ov *overlay
}

// get returns key's record, or nil when the key does not exist.
func (v stateView) get(key []byte) []byte {
	if rec, ok := v.ov.lookup(key); ok {
		return rec
	}
	return v.tx.Bucket(bucketData).Get(key)
}

// scan calls fn with every existing key that starts with prefix, with its
// record, in ascending key order, until fn returns false or an error.
func (v stateView) scan(prefix []byte, fn func(k, rec []byte) (bool, error)) error {
	pending := v.ov.withPrefix(prefix)
	c := v.tx.Bucket(bucketData).Cursor()
	var k, rec []byte
	if len(prefix) == 0 {
		k, rec = c.First()
	} else {
		k, rec = c.Seek(prefix)
	}
	if k != nil && !bytes.HasPrefix(k, prefix) {
		k = nil
	}
	for k != nil || len(pending) > 0 {
		var key, val []byte
		switch {
		case k == nil || (len(pending) > 0 && pending[0] <= string(k)):
			key = []byte(pending[0])
			val = v.ov.vals[pending[0]]
			if k != nil && pending[0] == string(k) {
				k, rec = v.advance(c, prefix) // shadowed by the overlay
			}
			pending = pending[1:]
			if val == nil {
				continue // deleted since the last commit
			}
		default:
			key, val = k, rec
			k, rec = v.advance(c, prefix)
		}
		if ok, err := fn(key, val); !ok || err != nil {
			return err
		}
	}
	return nil
}

// advance moves c to the next key under prefix; nil when there is none.
func (stateView) advance(c *bolt.Cursor, prefix []byte) (k, rec []byte) {
	k, rec = c.Next()
	if k != nil && !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, rec
}

// viewState runs fn on the current state and returns its applied index.
func (s *Store) viewState(fn func(v stateView) error) (index uint64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	s.ov.mu.RLock()
	defer s.ov.mu.RUnlock()
	err = s.ref.db.View(func(tx *bolt.Tx) error {
		committed, err := readAppliedIndex(tx)
		if err != nil {
			return err
		}
		// Without an overlay a commit may land between ApplyBatch's commit
		// and its recording of the index: the transaction's own index is
		// then the newer one.
		index = max(committed, s.ov.index)
		return fn(stateView{tx: tx, ov: &s.ov})
	})
	return index, err
}
