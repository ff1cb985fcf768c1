//go:build unix

package raftnodetest

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// reservePort takes an exclusive flock on port's lock file, so no other
// test binary picks the port until release (or this process's exit, when
// the kernel drops the lock). It reports false if another process holds
// the port.
func reservePort(t testing.TB, port int) (release func(), ok bool) {
	t.Helper()
	dir, err := portLockDir()
	if err != nil {
		t.Fatalf("port lock directory: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("port lock file: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return func() { _ = f.Close() }, true // closing the file drops the lock
}

// isUnix reports whether reservePort reserves across processes.
const isUnix = true
