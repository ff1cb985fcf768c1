package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultOpenTimeout is how long Open waits for the bbolt file lock when
// Options.OpenTimeout is zero.
const DefaultOpenTimeout = 5 * time.Second

// DefaultInitialMmapBytes is the initial size of bbolt's memory map when
// Options.InitialMmapBytes is zero. It is address space, not memory or
// disk: the file still grows only as data is written.
const DefaultInitialMmapBytes = 256 << 20

// fileMode is the permission of the database file: it holds user data.
const fileMode = 0o600

// Bucket and key names; see DESIGN.md.
var (
	bucketData  = []byte("data")  // key -> fsmpb.StoredValue
	bucketNodes = []byte("nodes") // node id -> fsmpb.NodeMeta
	bucketMeta  = []byte("meta")  // store bookkeeping, below

	// The exactly-once table (session.go).
	bucketSessions   = []byte("sessions")    // client id -> fsmpb.Session
	bucketResults    = []byte("results")     // len(client id) || client id || seq -> fsmpb.StoredResult
	bucketSessionLRU = []byte("session_lru") // last index -> client id

	keyAppliedIndex  = []byte("applied_index")  // uint64 big-endian
	keySchemaVersion = []byte("schema_version") // uint64 big-endian
	keySessionCount  = []byte("session_count")  // uint64 big-endian: keys in bucketSessions
)

// requiredBuckets exist in every file of schema version 1. The exactly-once
// buckets came later in the same version: they only add state that older
// binaries ignore (and those halt on the format-2 entries that write it),
// so a file or snapshot without them is valid and gets them when opened.
var (
	requiredBuckets = [][]byte{bucketData, bucketNodes, bucketMeta}
	addedBuckets    = [][]byte{bucketSessions, bucketResults, bucketSessionLRU}
)

// schemaVersion is the bucket layout version written into meta. Open
// refuses a file with any other version rather than misread it.
const schemaVersion = 1

// restoreTempInfix names Restore's temp files: <db file name>.restore-*.
const restoreTempInfix = ".restore-"

// Options configures Open. The zero value (or a nil *Options) is usable.
type Options struct {
	// Logger receives lifecycle events (open, close, restore) at Info and
	// rejected entries at Debug. Values and full keys are never logged.
	// nil discards.
	Logger *slog.Logger

	// OpenTimeout bounds how long Open waits for the file lock when another
	// process holds the database open. 0 means DefaultOpenTimeout; a
	// negative value means do not wait at all.
	OpenTimeout time.Duration

	// InitialMmapBytes is the initial size of bbolt's memory map. bbolt
	// must remap to grow past it, and a remap waits for every open read
	// transaction, including an unreleased Snapshot, so a map large enough
	// for the data keeps Apply from stalling behind a snapshot being
	// persisted. 0 means DefaultInitialMmapBytes; a negative value means
	// start small and grow on demand (bbolt's default).
	InitialMmapBytes int64

	// NoSync stops fsyncing each commit; see DESIGN.md, "Commits without
	// fsync". The caller must be able to rebuild the state machine from
	// fsynced copies (raft's log and snapshots). Open writes a marker with
	// the current boot id first, and Close fsyncs and removes it; if a
	// later Open finds the marker from another boot, the machine went down
	// with commits possibly unwritten, and the file is set aside
	// (path.discarded) so the store starts empty. This check runs whatever
	// NoSync is now. Without a readable boot id, commits stay fsynced.
	NoSync bool

	// BootIDPath is the file holding the id of the running OS boot. Empty
	// means DefaultBootIDPath. Tests point it at a file of their own to
	// stage a reboot.
	BootIDPath string

	// CommitInterval lets applied batches accumulate in one bbolt write
	// transaction for up to this long before it is committed, as etcd's
	// backend does; reads see them at once through an in-memory overlay.
	// One commit then writes each touched page once for many batches
	// instead of once per batch. Entries applied but not yet committed
	// are lost by a crash and replayed from the raft log (AppliedIndex
	// after Open is the committed index); Snapshot and Close commit first.
	// See DESIGN.md, "Deferred commits". 0 commits every ApplyBatch.
	CommitInterval time.Duration

	// CommitEntries commits the accumulating transaction as soon as it
	// holds this many entries, whatever its age. 0 means
	// DefaultCommitEntries. Ignored when CommitInterval is 0. The
	// transaction is also committed once the records it wrote reach
	// 64 MiB, which bounds the memory it and the overlay hold.
	CommitEntries int
}

// Store is a bbolt-backed key-value state machine. It is safe for
// concurrent use: reads run in parallel with each other and with Apply,
// and Restore swaps the database while no read is in progress.
type Store struct {
	path        string
	log         *slog.Logger
	openTimeout time.Duration
	mmapBytes   int
	bootIDPath  string
	// noSync is whether commits skip fsync: Options.NoSync, and the
	// marker for it written. Fixed by Open.
	noSync bool

	// applied mirrors meta/applied_index of the current database so that
	// AppliedIndex needs no transaction. It is written only by Apply (after
	// commit) and by Restore, both of which exclude each other via mu.
	applied atomic.Uint64

	// limits bound the exactly-once table; always defaultSessionLimits
	// outside tests.
	limits sessionLimits

	// applyMu serialises Apply, so the skip check and the update of
	// applied cannot interleave. raft applies from a single goroutine, so
	// it is uncontended in practice.
	applyMu sync.Mutex

	// mu guards ref and closed. Reads, Apply and Snapshot hold it shared;
	// Restore and Close hold it exclusively while they swap or retire the
	// database, so a reader never sees a half-restored store.
	mu     sync.RWMutex
	ref    *dbRef
	closed bool

	// commitInterval and commitEntries are Options.CommitInterval and
	// CommitEntries (defaulted). Fixed by Open.
	commitInterval time.Duration
	commitEntries  int
	commitBytes    int // maxUncommittedBytes outside tests
	// pending is the write transaction applied batches accumulate in; nil
	// when everything applied is committed. See pendingCommit for its lock.
	pending *pendingCommit
	// ov shows reads what pending holds.
	ov overlay
	// flushTimer commits pending once it is CommitInterval old; flushArmed
	// (under applyMu) says it is set.
	flushTimer *time.Timer
	flushArmed bool
	// commits counts committed write transactions and commitNanos the
	// time they took; uncommitted mirrors pending's entry count
	// (CommitStats).
	commits     atomic.Uint64
	commitNanos atomic.Uint64
	uncommitted atomic.Int64
	// failed is set, under applyMu, when entries already applied and
	// visible could not be committed; every later apply returns it.
	failed error
}

// dbRef is one open bbolt file plus the snapshots still reading from it.
// Restore and Close retire it; it is closed as soon as it is retired and
// no Snapshot holds a transaction on it. This keeps Restore and Close from
// waiting on (or deadlocking with) a snapshot that is still streaming:
// bbolt's Close blocks until every read transaction has finished.
type dbRef struct {
	db *bolt.DB

	mu      sync.Mutex // guards snaps and retired
	snaps   int        // open Snapshots on db
	retired bool       // no longer the store's current database
}

// acquire records one more open Snapshot. The caller holds Store.mu
// shared, so the ref cannot be retired concurrently.
func (r *dbRef) acquire() {
	r.mu.Lock()
	r.snaps++
	r.mu.Unlock()
}

// release records that a Snapshot finished and closes db if it was the
// last one on a retired ref. closed reports whether it closed db.
func (r *dbRef) release() (closed bool, err error) {
	r.mu.Lock()
	r.snaps--
	last := r.retired && r.snaps == 0
	r.mu.Unlock()
	if !last {
		return false, nil
	}
	return true, r.db.Close()
}

// retire marks the ref as replaced and closes db unless a Snapshot still
// reads it, in which case the last Release closes it. deferred reports
// that case.
func (r *dbRef) retire() (deferred bool, err error) {
	r.mu.Lock()
	r.retired = true
	busy := r.snaps > 0
	r.mu.Unlock()
	if busy {
		return true, nil
	}
	return false, r.db.Close()
}

// Open opens the bbolt database at path, creating the file and its buckets
// if needed, and loads the applied index. opts may be nil.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.OpenTimeout == 0:
		o.OpenTimeout = DefaultOpenTimeout
	case o.OpenTimeout < 0:
		// bbolt treats 0 as "wait forever"; the smallest positive value
		// gives a single attempt.
		o.OpenTimeout = time.Nanosecond
	}
	switch {
	case o.InitialMmapBytes == 0:
		o.InitialMmapBytes = DefaultInitialMmapBytes
	case o.InitialMmapBytes < 0:
		o.InitialMmapBytes = 0
	}
	if o.BootIDPath == "" {
		o.BootIDPath = DefaultBootIDPath
	}
	s := &Store{
		path:        path,
		log:         o.Logger.With("component", "store"),
		openTimeout: o.OpenTimeout,
		mmapBytes:   int(min(o.InitialMmapBytes, math.MaxInt)),
		bootIDPath:  o.BootIDPath,
		limits:      defaultSessionLimits,

		commitInterval: max(o.CommitInterval, 0),
		commitEntries:  o.CommitEntries,
		commitBytes:    maxUncommittedBytes,
		ov:             overlay{vals: map[string][]byte{}},
	}
	if s.commitEntries <= 0 {
		s.commitEntries = DefaultCommitEntries
	}
	s.flushTimer = time.AfterFunc(time.Hour, s.flushDue)
	s.flushTimer.Stop()
	if err := s.discardIfUnsyncedAcrossReboot(); err != nil {
		return nil, err
	}
	if o.NoSync {
		var err error
		if s.noSync, err = s.markUnsynced(); err != nil {
			return nil, err
		}
	}
	db, applied, err := s.openDB(path)
	if err != nil {
		return nil, err
	}
	if !s.noSync {
		// A marker left by an earlier run in this boot: its commits are
		// whole in the page cache; make them durable before dropping it.
		if err := s.syncAndUnmark(db); err != nil {
			return nil, errors.Join(err, db.Close())
		}
	}
	s.ref = &dbRef{db: db}
	s.applied.Store(applied)
	// Only now, holding the file lock, is it safe to remove what a crashed
	// Restore left behind.
	s.removeRestoreTemps()
	s.log.Info("store opened", "path", path, "index", applied, "fsync_commits", !s.noSync)
	return s, nil
}

// openDB opens the bbolt file at path, makes sure the buckets exist and
// the schema version is ours, and returns the stored applied index.
func (s *Store) openDB(path string) (*bolt.DB, uint64, error) {
	db, err := bolt.Open(path, fileMode, &bolt.Options{
		Timeout:         s.openTimeout,
		InitialMmapSize: s.mmapBytes,
		// The freelist is rebuilt by scanning the file on open instead of
		// being written by every commit, which otherwise grows with the
		// free pages of a large store. Durability is unchanged: a commit
		// is still fsynced, and the freelist is derivable from the pages.
		// etcd's backend and Consul's raft log store run the same way.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", path, err)
	}
	var applied uint64
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initBuckets(tx); err != nil {
			return err
		}
		var err error
		applied, err = readAppliedIndex(tx)
		return err
	})
	if err != nil {
		return nil, 0, errors.Join(fmt.Errorf("init %s: %w", path, err), db.Close())
	}
	db.NoSync = s.noSync
	db.NoGrowSync = s.noSync
	return db, applied, nil
}

// initBuckets creates missing buckets and records or checks the schema
// version.
func initBuckets(tx *bolt.Tx) error {
	for _, name := range append(slices.Clone(requiredBuckets), addedBuckets...) {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keySchemaVersion) == nil {
		return meta.Put(keySchemaVersion, encodeUint64(schemaVersion))
	}
	return checkSchema(tx)
}

// checkSchema verifies that every required bucket exists and the schema
// version is the one this binary understands.
func checkSchema(tx *bolt.Tx) error {
	for _, name := range requiredBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("bucket %s is missing", name)
		}
	}
	v, err := decodeUint64(tx.Bucket(bucketMeta).Get(keySchemaVersion))
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v != schemaVersion {
		return fmt.Errorf("schema version %d is unknown; this binary reads version %d", v, schemaVersion)
	}
	return nil
}

// readAppliedIndex returns meta/applied_index, or 0 if nothing has been
// applied yet.
func readAppliedIndex(tx *bolt.Tx) (uint64, error) {
	v := tx.Bucket(bucketMeta).Get(keyAppliedIndex)
	if v == nil {
		return 0, nil
	}
	n, err := decodeUint64(v)
	if err != nil {
		return 0, fmt.Errorf("read applied index: %w", err)
	}
	return n, nil
}

// encodeUint64 returns n as 8 big-endian bytes.
func encodeUint64(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

// decodeUint64 parses 8 big-endian bytes.
func decodeUint64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("want 8 bytes, have %d", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// removeRestoreTemps deletes temp files left by a Restore that crashed
// before its rename. Failures are only logged: they cost disk space, not
// correctness.
func (s *Store) removeRestoreTemps() {
	dir, base := filepath.Split(s.path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Warn("scan for stale restore files", "err", err)
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), base+restoreTempInfix) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil {
			s.log.Warn("remove stale restore file", "file", p, "err", err)
			continue
		}
		s.log.Warn("removed stale restore file", "file", p)
	}
}

// Close closes the database. Further calls return ErrClosed, except Close,
// which returns nil. If a Snapshot is still open the file stays open (and
// locked) until that Snapshot is released.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.flushTimer.Stop()
	// No Apply runs (they hold mu shared): commit what they left open.
	commitErr := s.commitPending()
	s.dropPending()
	ref := s.ref
	s.ref = nil
	var syncErr error
	if s.noSync {
		// No Apply runs (they hold mu shared): every commit is written.
		syncErr = s.syncAndUnmark(ref.db)
	}
	deferred, err := ref.retire()
	if err = errors.Join(commitErr, syncErr, err); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	s.log.Info("store closed", "index", s.applied.Load(), "close_deferred_for_snapshot", deferred)
	return nil
}

// Path returns the path of the bbolt file given to Open.
func (s *Store) Path() string { return s.path }

// AppliedIndex returns the raft index of the last entry applied to the
// store (0 if none). It reads an atomic and never blocks. After Restore it
// is the snapshot's index.
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

// view runs fn in a read-only transaction on the current database, holding
// mu shared so that Restore cannot swap the database underneath.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.ref.db.View(fn)
}
