package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Snapshot stream layout (see DESIGN.md):
//
//	offset  size  field
//	0       8     magic "RKVSNAP\x00"
//	8       4     format version, big-endian (1)
//	12      4     reserved, zero
//	16      8     applied index, big-endian
//	24      8     database size in bytes (n), big-endian
//	32      4     CRC-32C of bytes 0..31, big-endian
//	36      n     the bbolt file, as written by bolt.Tx.WriteTo
//	36+n    4     CRC-32C of the n database bytes, big-endian
const (
	snapshotMagic     = "RKVSNAP\x00"
	snapshotFormat    = 1
	snapshotHeaderLen = 36
	snapshotCRCLen    = 4
)

// crcTable is CRC-32C (Castagnoli), which has hardware support on amd64
// and arm64.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// snapshotHeader is the fixed-size prefix of a snapshot stream.
type snapshotHeader struct {
	index uint64 // applied index of the database in the stream
	size  uint64 // length of the database bytes that follow
}

// marshal encodes h, checksum included.
func (h snapshotHeader) marshal() []byte {
	b := make([]byte, 0, snapshotHeaderLen)
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint32(b, snapshotFormat)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, h.index)
	b = binary.BigEndian.AppendUint64(b, h.size)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// parseSnapshotHeader decodes and checks a header. Every failure wraps
// ErrInvalidSnapshot.
func parseSnapshotHeader(b []byte) (snapshotHeader, error) {
	if len(b) != snapshotHeaderLen {
		return snapshotHeader{}, fmt.Errorf("%w: header is %d bytes, want %d", ErrInvalidSnapshot, len(b), snapshotHeaderLen)
	}
	if !bytes.Equal(b[:8], []byte(snapshotMagic)) {
		return snapshotHeader{}, fmt.Errorf("%w: bad magic; not a raftkv store snapshot", ErrInvalidSnapshot)
	}
	if got, want := binary.BigEndian.Uint32(b[32:36]), crc32.Checksum(b[:32], crcTable); got != want {
		return snapshotHeader{}, fmt.Errorf("%w: header checksum mismatch", ErrInvalidSnapshot)
	}
	if f := binary.BigEndian.Uint32(b[8:12]); f != snapshotFormat {
		return snapshotHeader{}, fmt.Errorf("%w: format %d is unknown; this binary reads format %d", ErrInvalidSnapshot, f, snapshotFormat)
	}
	if r := binary.BigEndian.Uint32(b[12:16]); r != 0 {
		return snapshotHeader{}, fmt.Errorf("%w: reserved header field is %#x, want 0", ErrInvalidSnapshot, r)
	}
	h := snapshotHeader{
		index: binary.BigEndian.Uint64(b[16:24]),
		size:  binary.BigEndian.Uint64(b[24:32]),
	}
	if h.size == 0 || h.size > 1<<50 {
		return snapshotHeader{}, fmt.Errorf("%w: database size %d is implausible", ErrInvalidSnapshot, h.size)
	}
	return h, nil
}

// Snapshot is a point-in-time view of the store, held open as a read-only
// bbolt transaction. It fits raft's FSMSnapshot contract: Store.Snapshot
// returns at once, WriteTo (Persist) streams, Release ends it.
//
// bbolt caveats apply while a Snapshot is open. Pages freed by later writes
// cannot be reused, so the file may grow. An Apply that must grow bbolt's
// memory map beyond Options.InitialMmapBytes waits until the Snapshot is
// released, so never Apply on the goroutine that holds an unreleased
// Snapshot (raft does not: it persists on its own goroutine). Stream
// promptly and always Release. WriteTo and Release must not be called
// concurrently with each other; neither takes the store's lock, so they
// never wait for Restore or Close.
type Snapshot struct {
	store    *Store
	ref      *dbRef
	tx       *bolt.Tx
	index    uint64
	released atomic.Bool
	once     sync.Once
}

// Snapshot captures the current state. It commits what applies left
// uncommitted (Options.CommitInterval), then only opens a read-only
// transaction, so it returns quickly and does not block later Apply calls
// or reads. The caller must call Release. Returns ErrClosed on a closed
// store.
func (s *Store) Snapshot() (*Snapshot, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if err := s.commitPending(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	tx, err := s.ref.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin snapshot transaction: %w", err)
	}
	// Read the index inside the transaction, not from s.applied: the two
	// must describe the same state.
	index, err := readAppliedIndex(tx)
	if err != nil {
		return nil, rollbackOnError(tx, err)
	}
	s.ref.acquire()
	return &Snapshot{store: s, ref: s.ref, tx: tx, index: index}, nil
}

// rollbackOnError rolls back tx after err and reports both.
func rollbackOnError(tx *bolt.Tx, err error) error {
	if rerr := tx.Rollback(); rerr != nil {
		return fmt.Errorf("%w (rollback: %v)", err, rerr)
	}
	return err
}

// Index returns the applied index of the state the snapshot holds.
func (sn *Snapshot) Index() uint64 { return sn.index }

// WriteTo streams the snapshot to w: a header (magic, format version,
// applied index, size), the bbolt file via bolt.Tx.WriteTo, and a CRC-32C
// trailer. Nothing is buffered beyond bbolt's page copy. It returns the
// number of bytes written. After Release it returns ErrClosed.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	if sn.released.Load() {
		return 0, fmt.Errorf("write snapshot: %w", ErrClosed)
	}
	size := sn.tx.Size()
	hdr := snapshotHeader{index: sn.index, size: uint64(size)}
	n, err := w.Write(hdr.marshal())
	total := int64(n)
	if err != nil {
		return total, fmt.Errorf("write snapshot header: %w", err)
	}
	crc := crc32.New(crcTable)
	dn, err := sn.tx.WriteTo(io.MultiWriter(w, crc))
	total += dn
	if err != nil {
		return total, fmt.Errorf("write snapshot database: %w", err)
	}
	if dn != size {
		return total, fmt.Errorf("write snapshot database: wrote %d bytes, header says %d", dn, size)
	}
	n, err = w.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
	total += int64(n)
	if err != nil {
		return total, fmt.Errorf("write snapshot trailer: %w", err)
	}
	sn.store.log.Info("snapshot written", "index", sn.index, "bytes", total)
	return total, nil
}

// Release ends the snapshot's read transaction. It is safe to call more
// than once. If the store was restored or closed while the snapshot was
// open, the last Release also closes the old database file.
func (sn *Snapshot) Release() {
	sn.once.Do(func() {
		sn.released.Store(true)
		if err := sn.tx.Rollback(); err != nil {
			sn.store.log.Warn("release snapshot", "index", sn.index, "err", err)
		}
		closed, err := sn.ref.release()
		if err != nil {
			sn.store.log.Error("close replaced database", "err", err)
		} else if closed {
			sn.store.log.Info("closed replaced database after last snapshot", "index", sn.index)
		}
	})
}
