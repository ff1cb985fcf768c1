package raftnode

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"go.etcd.io/bbolt"
)

// LogStoreKind names the on-disk format of the raft log and stable store.
type LogStoreKind string

// The log store formats. A data directory keeps the format it was created
// with: LogStoreAuto picks whichever one the directory already holds and
// LogStoreWAL for a new one.
const (
	// LogStoreAuto uses the format found in DataDir, or LogStoreWAL if
	// there is none yet.
	LogStoreAuto LogStoreKind = ""
	// LogStoreWAL is hashicorp/raft-wal (DataDir/wal): append-only segment
	// files preallocated to 64 MiB, one fdatasync per append, truncation
	// by deleting whole segments. Consul's log store since 1.15.
	LogStoreWAL LogStoreKind = "wal"
	// LogStoreBoltDB is hashicorp/raft-boltdb/v2 (DataDir/raft.db): a bbolt
	// B+tree, two fdatasyncs per append (pages, then meta page).
	LogStoreBoltDB LogStoreKind = "boltdb"
)

// Paths of each format inside DataDir.
const (
	raftDBFile = "raft.db" // LogStoreBoltDB
	walDir     = "wal"     // LogStoreWAL
	lockFile   = "raft.lock"
)

// ParseLogStoreKind parses a --raft-log-store value: "auto" (or empty),
// "wal" or "boltdb".
func ParseLogStoreKind(s string) (LogStoreKind, error) {
	switch s {
	case "", "auto":
		return LogStoreAuto, nil
	case string(LogStoreWAL), string(LogStoreBoltDB):
		return LogStoreKind(s), nil
	}
	return "", fmt.Errorf("unknown raft log store %q: want auto, wal or boltdb", s)
}

// logStore is what raft needs from the log store: raft-wal and raft-boltdb
// both keep the stable store (term, vote) beside the log.
type logStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// openedLogStore is a log store with the directory lock that guards it.
type openedLogStore struct {
	logStore
	kind LogStoreKind
	path string // file (boltdb) or directory (wal) holding the log
	lock io.Closer
}

// StoreLogsMetricKey is the go-metrics timer StoreLogs reports to, for
// either format: the time to write and fsync a batch of entries.
var StoreLogsMetricKey = []string{"raft", "logstore", "storeLogs"}

// StoreLogs writes and fsyncs logs, timing it under StoreLogsMetricKey.
func (s *openedLogStore) StoreLogs(logs []*raft.Log) error {
	defer gometrics.MeasureSince(StoreLogsMetricKey, time.Now())
	return s.logStore.StoreLogs(logs)
}

// StoreLog writes and fsyncs one entry; see StoreLogs.
func (s *openedLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// Close closes the store, then releases the lock.
func (s *openedLogStore) Close() error {
	return errors.Join(s.logStore.Close(), s.lock.Close())
}

// resolveLogStoreKind decides which format to open in dataDir: the one
// already there, else want (WAL if auto). Asking for the other format than
// the directory holds is refused: opening an empty log of the other kind
// beside the real one would make the node forget its term, vote and log.
func resolveLogStoreKind(dataDir string, want LogStoreKind) (LogStoreKind, error) {
	hasBolt, err := exists(filepath.Join(dataDir, raftDBFile))
	if err != nil {
		return "", err
	}
	hasWAL, err := exists(filepath.Join(dataDir, walDir))
	if err != nil {
		return "", err
	}
	var found LogStoreKind
	switch {
	case hasBolt && hasWAL:
		return "", fmt.Errorf("%s holds both %s and %s/: remove the one that is not in use", dataDir, raftDBFile, walDir)
	case hasBolt:
		found = LogStoreBoltDB
	case hasWAL:
		found = LogStoreWAL
	}
	switch {
	case found == "" && want == LogStoreAuto:
		return LogStoreWAL, nil
	case found == "":
		return want, nil
	case want == LogStoreAuto || want == found:
		return found, nil
	}
	return "", fmt.Errorf("%s holds a %s raft log but %s was asked for: use --raft-log-store=%s (or auto)",
		dataDir, found, want, found)
}

// openLogStore locks dataDir and opens its raft log store.
func openLogStore(dataDir string, want LogStoreKind, hcl hclog.Logger) (*openedLogStore, error) {
	lock, err := lockDir(filepath.Join(dataDir, lockFile))
	if err != nil {
		return nil, err
	}
	s, err := openLocked(dataDir, want, hcl)
	if err != nil {
		return nil, errors.Join(err, lock.Close())
	}
	s.lock = lock
	return s, nil
}

func openLocked(dataDir string, want LogStoreKind, hcl hclog.Logger) (*openedLogStore, error) {
	kind, err := resolveLogStoreKind(dataDir, want)
	if err != nil {
		return nil, err
	}
	if kind == LogStoreBoltDB {
		path := filepath.Join(dataDir, raftDBFile)
		st, err := raftboltdb.New(raftboltdb.Options{
			Path: path,
			// The lock above already excludes other processes; the
			// timeout is a second guard. The freelist is not synced
			// (rebuilt on open), as Consul runs raft-boltdb: log
			// truncation frees many pages, and writing that list on
			// every append costs more than the entries themselves.
			BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
		})
		if err != nil {
			return nil, fmt.Errorf("open raft log store %s: %w", path, err)
		}
		return &openedLogStore{logStore: st, kind: kind, path: path}, nil
	}
	path := filepath.Join(dataDir, walDir)
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("create raft log dir: %w", err)
	}
	meta := &metadb.BoltMetaDB{}
	st, err := wal.Open(path, wal.WithLogger(hcl), wal.WithMetaStore(meta))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open raft log store %s: %w", path, err), meta.Close())
	}
	return &openedLogStore{logStore: walStore{st, meta}, kind: kind, path: path}, nil
}

// walStore closes the WAL's meta database with it: raft-wal v0.4.2's Close
// leaves it open, and with it the bbolt file lock that makes the next open
// in the same process (a restarted node in tests, a restored server) wait
// forever.
type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

// GetLog reads entry index, treating entries below the first index as
// gone: raft-wal v0.4.2 drops them logically on head truncation but still
// returns those left in a live segment, so a leader would stream compacted
// entries to a new follower instead of the snapshot that replaced them.
func (s walStore) GetLog(index uint64, l *raft.Log) error {
	first, err := s.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return s.WAL.GetLog(index, l)
}

// Close closes the WAL, then its meta database.
func (s walStore) Close() error { return errors.Join(s.WAL.Close(), s.meta.Close()) }

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// LogStorePath is the file (boltdb) or directory (wal) holding the node's
// raft log, for disk usage metrics.
func (n *Node) LogStorePath() string { return n.store.path }

// LogStoreKind is the format of the node's raft log.
func (n *Node) LogStoreKind() LogStoreKind { return n.store.kind }

// IsMonotonic implements raft.MonotonicLogStore for stores that need it
// (raft-wal refuses gaps, so raft must clear it after installing a
// snapshot instead of leaving one); the embedded interface would hide it.
func (s *openedLogStore) IsMonotonic() bool {
	m, ok := s.logStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
