package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Restore replaces the whole database with the snapshot stream in r, as
// written by Snapshot.WriteTo.
//
// The stream is first written to a temp file next to the database, its
// header and checksums verified, fsynced and opened once to check the
// bbolt file, its buckets and that its applied index matches the header.
// Only then, holding mu exclusively (the lock every read takes), is the
// temp file renamed over the database and reopened. A read sees either the
// old or the new state, never a mix.
//
// A bad stream (ErrInvalidSnapshot) or an I/O failure before the rename
// leaves the current database untouched. If the restored file cannot be
// opened after the rename, the store closes itself and the error is fatal.
//
// An open Snapshot does not block Restore: the database it reads stays
// open until it is released. raft never runs Restore concurrently with
// Apply; should a caller do so anyway, Apply waits.
func (s *Store) Restore(r io.Reader) (err error) {
	hdr, tmp, err := s.receive(r)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("remove restore temp file: %w", rerr))
			}
		}
	}()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	// On Unix the old database stays readable through its open file
	// handle after the rename, which is what outstanding Snapshots use.
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("replace database file: %w", err)
	}
	renamed = true
	// The snapshot replaces everything applied, committed or not; the
	// open write transaction would also keep the old file from closing.
	s.dropPending()
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		// The rename may not survive a crash; raft then restores or
		// replays again. Worth a look, not worth failing the restore.
		s.log.Warn("sync directory after restore", "err", err)
	}

	old := s.ref
	db, applied, err := s.openDB(s.path)
	if err != nil {
		// The old file is gone from the path, so serving it would diverge
		// from disk. Stop.
		s.closed = true
		s.ref = nil
		if _, cerr := old.retire(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close replaced database: %w", cerr))
		}
		return fmt.Errorf("open restored database: %w", err)
	}
	s.ref = &dbRef{db: db}
	s.applied.Store(applied)
	deferred, cerr := old.retire()
	if cerr != nil {
		// The restore itself succeeded; the old handle only leaks.
		s.log.Warn("close replaced database", "err", cerr)
	}
	s.log.Info("store restored", "index", applied, "bytes", hdr.size, "close_deferred_for_snapshot", deferred)
	return nil
}

// receive reads a snapshot stream into a verified temp file next to the
// database and returns its header and path. On error nothing is left
// behind.
func (s *Store) receive(r io.Reader) (hdr snapshotHeader, path string, err error) {
	buf := make([]byte, snapshotHeaderLen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return hdr, "", streamError("read snapshot header", err)
	}
	hdr, err = parseSnapshotHeader(buf)
	if err != nil {
		return hdr, "", err
	}

	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+restoreTempInfix+"*")
	if err != nil {
		return hdr, "", fmt.Errorf("create restore temp file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			err = errors.Join(err, removeQuietly(f, tmp))
		}
	}()

	crc := crc32.New(crcTable)
	if _, err := io.CopyN(io.MultiWriter(f, crc), r, int64(hdr.size)); err != nil {
		return hdr, "", streamError("read snapshot database", err)
	}
	trailer := make([]byte, snapshotCRCLen)
	if _, err := io.ReadFull(r, trailer); err != nil {
		return hdr, "", streamError("read snapshot trailer", err)
	}
	if binary.BigEndian.Uint32(trailer) != crc.Sum32() {
		return hdr, "", fmt.Errorf("%w: database checksum mismatch", ErrInvalidSnapshot)
	}
	var extra [1]byte
	if n, err := r.Read(extra[:]); n > 0 {
		return hdr, "", fmt.Errorf("%w: unexpected data after the trailer", ErrInvalidSnapshot)
	} else if err != nil && !errors.Is(err, io.EOF) {
		return hdr, "", fmt.Errorf("read snapshot end: %w", err)
	}

	if err := f.Sync(); err != nil {
		return hdr, "", fmt.Errorf("sync restore temp file: %w", err)
	}
	if err := f.Close(); err != nil {
		return hdr, "", fmt.Errorf("close restore temp file: %w", err)
	}
	if err := s.checkRestored(tmp, hdr.index); err != nil {
		return hdr, "", err
	}
	return hdr, tmp, nil
}

// checkRestored opens the received file read-only and checks that it is a
// bbolt file with our buckets and schema, holding the applied index the
// header promised.
func (s *Store) checkRestored(path string, index uint64) error {
	db, err := bolt.Open(path, fileMode, &bolt.Options{ReadOnly: true, Timeout: s.openTimeout})
	if err != nil {
		return fmt.Errorf("%w: open received database: %w", ErrInvalidSnapshot, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if err := checkSchema(tx); err != nil {
			return err
		}
		got, err := readAppliedIndex(tx)
		if err != nil {
			return err
		}
		if got != index {
			return fmt.Errorf("database applied index %d does not match header index %d", got, index)
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
	}
	return errors.Join(err, db.Close())
}

// streamError wraps a read error; running out of input means the stream
// was truncated, which is an invalid snapshot rather than an I/O failure.
func streamError(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s: stream truncated", ErrInvalidSnapshot, what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// removeQuietly closes and deletes a temp file after a failure. Closing an
// already closed file is expected on some paths and not reported.
func removeQuietly(f *os.File, path string) error {
	_ = f.Close() // may already be closed; the file is being discarded
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove restore temp file: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
