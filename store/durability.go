package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// DefaultBootIDPath is where Linux exposes the id of the running boot. It
// changes on every reboot, including one after a power loss or a kernel
// crash, and never while the same kernel runs.
const DefaultBootIDPath = "/proc/sys/kernel/random/boot_id"

// File name suffixes next to the database (see DESIGN.md, "Commits
// without fsync").
const (
	// unsyncedSuffix names the marker that exists while the database may
	// hold commits that were not fsynced. It holds the boot id they were
	// written in.
	unsyncedSuffix = ".unsynced"
	// discardedSuffix names the last database set aside because the
	// machine restarted while it held commits that were not fsynced.
	discardedSuffix = ".discarded"
)

// readBootID returns the trimmed content of the boot id file at path.
func readBootID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("read boot id: %s is empty", path)
	}
	return id, nil
}

// discardIfUnsyncedAcrossReboot sets the database aside when its marker
// says it took commits without fsync in a boot other than the current one
// (or the current one cannot be told). A process crash keeps every write
// in the kernel's page cache, so within one boot the file is whole; after
// an OS crash or power loss it may be torn in ways bbolt cannot detect
// (a meta page on disk pointing at pages that never reached it). The
// caller's raft log and snapshots, which are fsynced, rebuild the state.
func (s *Store) discardIfUnsyncedAcrossReboot() error {
	marker := s.path + unsyncedSuffix
	b, err := os.ReadFile(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", marker, err)
	}
	written := strings.TrimSpace(string(b))
	current, idErr := readBootID(s.bootIDPath)
	if idErr == nil && written != "" && written == current {
		return nil // same boot: only the process stopped
	}
	// Rename first, remove the marker second: a crash in between leaves a
	// marker with no file, which the next open clears the same way.
	aside := s.path + discardedSuffix
	if err := os.Rename(s.path, aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("set aside %s: %w", s.path, err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	if err := removeMarker(marker); err != nil {
		return err
	}
	s.log.Warn("state machine file held commits that were not fsynced when the machine restarted; "+
		"set it aside to rebuild from the raft snapshot and log",
		"moved_to", aside, "written_in_boot", written, "current_boot", current, "boot_id_err", idErr)
	return nil
}

// markUnsynced writes the marker with the current boot id and makes it
// durable, before the first commit that is not fsynced. It returns false
// (and commits stay fsynced) when the boot id cannot be read: without it a
// reboot cannot be told from a process restart.
func (s *Store) markUnsynced() (bool, error) {
	id, err := readBootID(s.bootIDPath)
	if err != nil {
		s.log.Warn("cannot tell reboots apart; state machine commits stay fsynced", "err", err)
		return false, nil
	}
	marker := s.path + unsyncedSuffix
	f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return false, fmt.Errorf("create %s: %w", marker, err)
	}
	_, werr := f.WriteString(id + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return false, fmt.Errorf("write %s: %w", marker, err)
	}
	if err := syncDir(filepath.Dir(marker)); err != nil {
		return false, fmt.Errorf("sync directory: %w", err)
	}
	return true, nil
}

// removeMarker deletes the unsynced marker durably. The database must
// have been fsynced first.
func removeMarker(marker string) error {
	if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", marker, err)
	}
	if err := syncDir(filepath.Dir(marker)); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// syncAndUnmark fsyncs db and then removes the unsynced marker, if any.
func (s *Store) syncAndUnmark(db *bolt.DB) error {
	marker := s.path + unsyncedSuffix
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := db.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", s.path, err)
	}
	return removeMarker(marker)
}
