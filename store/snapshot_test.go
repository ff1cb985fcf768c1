package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftkv/raftkv/store"
)

// snapshotBytes takes a snapshot of s and returns its stream.
func snapshotBytes(tb testing.TB, s *store.Store) ([]byte, uint64) {
	tb.Helper()
	sn, err := s.Snapshot()
	if err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	defer sn.Release()
	var buf bytes.Buffer
	n, err := sn.WriteTo(&buf)
	if err != nil {
		tb.Fatalf("write snapshot: %v", err)
	}
	if n != int64(buf.Len()) {
		tb.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes(), sn.Index()
}

// fillA gives s a small history: updates, a delete and node meta.
func fillA(tb testing.TB, s *store.Store) {
	tb.Helper()
	mustApply(tb, s, 1, putCmd(tb, "a", "1"))
	mustApply(tb, s, 2, putCmd(tb, "b", "2"))
	mustApply(tb, s, 3, putCmd(tb, "c", ""))
	mustApply(tb, s, 4, delCmd(tb, "b"))
	mustApply(tb, s, 5, putCmd(tb, "a", "11"))
	mustApply(tb, s, 6, metaCmd(tb, "n1", "g:1", "r:1"))
	mustApply(tb, s, 7, metaCmd(tb, "n2", "g:2", "r:2"))
}

// TestStore_SnapshotRestoreRoundTrip restores one store's snapshot into
// another that held different data and checks they end up identical,
// across a reopen too.
func TestStore_SnapshotRestoreRoundTrip(t *testing.T) {
	a := mustOpen(t)
	fillA(t, a)
	want := mustState(t, a)
	blob, index := snapshotBytes(t, a)
	if index != 7 {
		t.Fatalf("Snapshot.Index = %d, want 7", index)
	}

	bPath := filepath.Join(t.TempDir(), "kv.db")
	b := mustOpenAt(t, bPath)
	mustApply(t, b, 1, putCmd(t, "old", "x"))
	mustApply(t, b, 2, metaCmd(t, "n9", "g:9", "r:9"))
	if err := b.Restore(bytes.NewReader(blob)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	assertState(t, mustState(t, b), want)

	// Applied-index rules carry over: old entries skip, new ones apply.
	if res := mustApply(t, b, 7, putCmd(t, "a", "again")); !res.Skipped {
		t.Fatalf("entry 7 after restore at 7: %+v, want Skipped", res)
	}
	mustApply(t, b, 8, putCmd(t, "a", "12"))
	want.applied = 8
	want.kvs[0] = store.KeyValue{Key: []byte("a"), Value: []byte("12"), CreateIndex: 1, ModIndex: 8}
	assertState(t, mustState(t, b), want)

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := mustOpenAt(t, bPath)
	assertState(t, mustState(t, b2), want)
}

// TestStore_SnapshotIsPointInTime checks that writes after Snapshot() do
// not leak into the stream.
func TestStore_SnapshotIsPointInTime(t *testing.T) {
	a := mustOpen(t)
	fillA(t, a)
	want := mustState(t, a)
	sn, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	mustApply(t, a, 8, putCmd(t, "late", "x"))
	mustApply(t, a, 9, delCmd(t, "a"))

	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	c := mustOpen(t)
	if err := c.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	assertState(t, mustState(t, c), want)
}

// TestStore_RestoreRejectsBadStream checks that every kind of bad stream
// fails and leaves the store, and its directory, exactly as they were.
func TestStore_RestoreRejectsBadStream(t *testing.T) {
	src := mustOpen(t)
	fillA(t, src)
	good, index := snapshotBytes(t, src)
	const hdrLen = 36
	body := good[hdrLen : len(good)-4]

	with := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	tests := []struct {
		name        string
		stream      io.Reader
		wantInvalid bool // errors.Is(err, ErrInvalidSnapshot)
	}{
		{"empty", bytes.NewReader(nil), true},
		{"garbage", bytes.NewReader(bytes.Repeat([]byte("garbage!"), 100)), true},
		{"short header", bytes.NewReader(good[:10]), true},
		{"bad magic", bytes.NewReader(with(func(b []byte) { b[0] ^= 0xff })), true},
		{"header checksum", bytes.NewReader(with(func(b []byte) { b[20] ^= 0x01 })), true},
		{"unknown format", bytes.NewReader(frame(2, index, body)), true},
		{"header only", bytes.NewReader(good[:hdrLen]), true},
		{"truncated body", bytes.NewReader(good[:hdrLen+100]), true},
		{"missing trailer", bytes.NewReader(good[:len(good)-4]), true},
		{"corrupted body", bytes.NewReader(with(func(b []byte) { b[hdrLen+len(body)/2] ^= 0x01 })), true},
		{"trailing data", bytes.NewReader(append(bytes.Clone(good), 0)), true},
		{"not a bbolt file", bytes.NewReader(frame(1, index, bytes.Repeat([]byte{0x5a}, 4*4096))), true},
		{"index mismatch", bytes.NewReader(frame(1, index+1, body)), true},
		{"reader error", io.MultiReader(bytes.NewReader(good[:hdrLen+100]), errReader{}), false},
	}

	dir := t.TempDir()
	s := mustOpenAt(t, filepath.Join(dir, "kv.db"))
	mustApply(t, s, 1, putCmd(t, "mine", "keep"))
	mustApply(t, s, 2, metaCmd(t, "me", "g:0", "r:0"))
	before := mustState(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Restore(tt.stream)
			if err == nil {
				t.Fatal("Restore succeeded, want an error")
			}
			t.Logf("Restore: %v", err)
			if got := errors.Is(err, store.ErrInvalidSnapshot); got != tt.wantInvalid {
				t.Fatalf("Restore = %v; errors.Is(ErrInvalidSnapshot) = %v, want %v", err, got, tt.wantInvalid)
			}
			assertState(t, mustState(t, s), before)
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name() != "kv.db" {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Fatalf("directory holds %q, want only kv.db", names)
			}
		})
	}
	// The store still takes writes.
	if res := mustApply(t, s, 3, putCmd(t, "mine", "still")); res.Err != nil || res.Skipped {
		t.Fatalf("apply after failed restores: %+v", res)
	}
}

// frame wraps body in a header and trailer the way Snapshot.WriteTo does,
// with a chosen format version and index, so tests can forge streams with
// valid checksums.
func frame(format uint32, index uint64, body []byte) []byte {
	tab := crc32.MakeTable(crc32.Castagnoli)
	b := []byte("RKVSNAP\x00")
	b = binary.BigEndian.AppendUint32(b, format)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, index)
	b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, tab))
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(body, tab))
}

// errReader fails every read with a non-EOF error.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestStore_RestoreWithOpenSnapshot checks that an unreleased Snapshot
// neither blocks Restore nor loses the state it captured.
func TestStore_RestoreWithOpenSnapshot(t *testing.T) {
	a := mustOpen(t)
	fillA(t, a)
	wantOld := mustState(t, a)

	other := mustOpen(t)
	mustApply(t, other, 50, putCmd(t, "new", "state"))
	wantNew := mustState(t, other)
	blob, _ := snapshotBytes(t, other)

	sn, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Restore(bytes.NewReader(blob)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Restore blocked behind an open Snapshot")
	}
	assertState(t, mustState(t, a), wantNew)

	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo of a snapshot taken before Restore: %v", err)
	}
	sn.Release()
	sn.Release() // safe twice
	if _, err := sn.WriteTo(io.Discard); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("WriteTo after Release = %v, want ErrClosed", err)
	}
	c := mustOpen(t)
	if err := c.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	assertState(t, mustState(t, c), wantOld)
}

// TestStore_CloseWithOpenSnapshot checks that Close does not wait for a
// snapshot, that the snapshot stays usable, and that its Release frees
// the file for the next Open.
func TestStore_CloseWithOpenSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := store.Open(path, &store.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	fillA(t, s)
	want := mustState(t, s)
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo after Close: %v", err)
	}
	sn.Release()

	reopened, err := store.Open(path, &store.Options{Logger: testLogger(t), OpenTimeout: -1})
	if err != nil {
		t.Fatalf("reopen after Release: %v", err)
	}
	t.Cleanup(func() { _ = reopened.Close() })
	assertState(t, mustState(t, reopened), want)

	c := mustOpen(t)
	if err := c.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	assertState(t, mustState(t, c), want)
}

// TestStore_RestoreClosed checks that a closed store refuses a restore and
// leaves no temp file.
func TestStore_RestoreClosed(t *testing.T) {
	src := mustOpen(t)
	fillA(t, src)
	blob, _ := snapshotBytes(t, src)

	dir := t.TempDir()
	s := mustOpenAt(t, filepath.Join(dir, "kv.db"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(bytes.NewReader(blob)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Restore on closed store = %v, want ErrClosed", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only kv.db", len(entries))
	}
}
