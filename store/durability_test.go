package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// bootFile is a boot id file a test controls: writing a new id stages a
// reboot.
type bootFile string

func newBootFile(t *testing.T, id string) bootFile {
	t.Helper()
	b := bootFile(filepath.Join(t.TempDir(), "boot_id"))
	b.set(t, id)
	return b
}

func (b bootFile) set(t *testing.T, id string) {
	t.Helper()
	if err := os.WriteFile(string(b), []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func openNoSync(t *testing.T, path string, boot bootFile, noSync bool) *store.Store {
	t.Helper()
	s, err := store.Open(path, &store.Options{Logger: testLogger(t), NoSync: noSync, BootIDPath: string(boot)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// applyPuts applies puts k1..kn at indexes 1..n.
func applyPuts(t *testing.T, s *store.Store, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		mustApply(t, s, uint64(i), putCmd(t, fmt.Sprintf("k%d", i), "v"))
	}
}

// A clean Close fsyncs and drops the marker: the next open, even after a
// reboot, keeps the data.
func TestNoSync_CleanCloseKeepsDataAcrossReboot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	boot := newBootFile(t, "boot-1")
	s := openNoSync(t, path, boot, true)
	if !exists(t, path+".unsynced") {
		t.Fatal("no .unsynced marker while commits are not fsynced")
	}
	applyPuts(t, s, 50)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(t, path+".unsynced") {
		t.Fatal("marker left after a clean Close")
	}
	boot.set(t, "boot-2")
	s = openNoSync(t, path, boot, true)
	if got := s.AppliedIndex(); got != 50 {
		t.Fatalf("applied index after clean close and reboot = %d, want 50", got)
	}
	if exists(t, path+".discarded") {
		t.Fatal("a cleanly closed file was discarded")
	}
}

// A killed process loses nothing the kernel already has, so within the
// same boot the file is kept as it is.
func TestNoSync_ProcessCrashKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	boot := newBootFile(t, "boot-1")
	s := openNoSync(t, path, boot, true)
	applyPuts(t, s, 50)
	crash(t, s)
	s = openNoSync(t, path, boot, true)
	if got := s.AppliedIndex(); got != 50 {
		t.Fatalf("applied index after a process crash = %d, want 50", got)
	}
	if _, err := s.Get([]byte("k50")); err != nil {
		t.Fatalf("k50 after a process crash: %v", err)
	}
}

// After a reboot with commits that were not fsynced the file may be torn;
// it is set aside, whatever it holds, and the store starts empty for the
// caller to rebuild from its raft snapshot and log.
func TestNoSync_RebootWithUnsyncedCommitsDiscardsFile(t *testing.T) {
	for name, tear := range map[string]func(t *testing.T, path string){
		"intact": func(*testing.T, string) {},
		"garbage": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("not a bbolt file, as a torn write may leave"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"truncated": func(t *testing.T, path string) {
			if err := os.Truncate(path, 4096*3); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kv.db")
			boot := newBootFile(t, "boot-1")
			s := openNoSync(t, path, boot, true)
			applyPuts(t, s, 50)
			crash(t, s)
			tear(t, path)
			boot.set(t, "boot-2")

			// Whether or not the new run skips fsync, the check runs.
			for _, noSync := range []bool{false, true} {
				s = openNoSync(t, path, boot, noSync)
				if got := s.AppliedIndex(); got != 0 {
					t.Fatalf("applied index after reboot = %d, want 0 (a fresh store)", got)
				}
				if !exists(t, path+".discarded") {
					t.Fatal("the suspect file was not kept as .discarded")
				}
				if exists(t, path+".unsynced") != noSync {
					t.Fatalf("marker present = %v, want %v", !noSync, noSync)
				}
				applyPuts(t, s, 3)
				crash(t, s)
				if noSync {
					break
				}
				// Sync mode: nothing suspect is left, so the next open
				// after another reboot keeps the data.
				boot.set(t, "boot-3")
				s = openNoSync(t, path, boot, true)
				if got := s.AppliedIndex(); got != 3 {
					t.Fatalf("fsynced store after reboot: applied %d, want 3", got)
				}
				crash(t, s)
				boot.set(t, "boot-4")
			}
		})
	}
}

// Without a readable boot id a reboot cannot be told apart, so commits
// stay fsynced, and an existing marker counts as a reboot.
func TestNoSync_NoBootID(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kv.db")
	missing := bootFile(filepath.Join(dir, "no-such-boot-id"))
	s := openNoSync(t, path, missing, true)
	if exists(t, path+".unsynced") {
		t.Fatal("marker written without a boot id")
	}
	applyPuts(t, s, 5)
	crash(t, s)
	s = openNoSync(t, path, missing, true)
	if got := s.AppliedIndex(); got != 5 {
		t.Fatalf("fsynced commits after a crash: applied %d, want 5", got)
	}
	crash(t, s)

	boot := newBootFile(t, "boot-1")
	s = openNoSync(t, path, boot, true) // marks with boot-1
	applyPuts(t, s, 0)
	crash(t, s)
	s = openNoSync(t, path, missing, true)
	if got := s.AppliedIndex(); got != 0 || !exists(t, path+".discarded") {
		t.Fatalf("marker with an unreadable boot id: applied %d, discarded %v; want 0, true",
			got, exists(t, path+".discarded"))
	}
}

// crash stops s as a killed process would (store.Crash).
func crash(t *testing.T, s *store.Store) {
	t.Helper()
	if err := store.Crash(s); err != nil {
		t.Fatal(err)
	}
}
