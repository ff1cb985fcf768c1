package store_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// FuzzRestore feeds arbitrary streams to Restore, seeded with a real
// snapshot and damaged copies of it. It must never panic; a stream that is
// refused leaves the store exactly as it was and still writable. The seed
// corpus runs as part of go test.
func FuzzRestore(f *testing.F) {
	src, err := store.Open(filepath.Join(f.TempDir(), "src.db"), nil)
	if err != nil {
		f.Fatal(err)
	}
	mustApply(f, src, 1, putCmd(f, "a", "1"))
	mustApply(f, src, 2, metaCmd(f, "n1", "127.0.0.1:7001", "127.0.0.1:7101"))
	sn, err := src.Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	var good bytes.Buffer
	if _, err := sn.WriteTo(&good); err != nil {
		f.Fatal(err)
	}
	sn.Release()
	if err := src.Close(); err != nil {
		f.Fatal(err)
	}
	snap := good.Bytes()
	flipped := bytes.Clone(snap)
	flipped[len(flipped)/2] ^= 0xff
	for _, seed := range [][]byte{snap, snap[:len(snap)/2], snap[:10], flipped, append(bytes.Clone(snap), 0), nil, []byte("garbage")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		s, err := store.Open(filepath.Join(t.TempDir(), "kv.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}()
		mustApply(t, s, 1, putCmd(t, "before", "restore"))
		before := mustState(t, s)
		if err := s.Restore(bytes.NewReader(stream)); err != nil {
			assertState(t, mustState(t, s), before)
			mustApply(t, s, 2, putCmd(t, "still", "writable"))
			return
		}
		// Accepted: the store is consistent and keeps applying after its index.
		st := mustState(t, s)
		mustApply(t, s, st.applied+1, putCmd(t, "after", "restore"))
	})
}

// FuzzValidateCommands feeds arbitrary keys and values to the command
// constructors, which every write passes through before it reaches the log:
// they must never panic, must refuse exactly what the limits refuse, and
// whatever they accept must apply cleanly.
func FuzzValidateCommands(f *testing.F) {
	f.Add([]byte("k"), []byte("v"))
	f.Add([]byte{}, []byte("v"))
	f.Add(bytes.Repeat([]byte("k"), store.MaxKeyBytes), []byte{})
	f.Add(bytes.Repeat([]byte("k"), store.MaxKeyBytes+1), []byte("v"))
	f.Add([]byte{0xff, 0xfe}, []byte{0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		cmd, err := store.PutCommand(key, value)
		wantOK := len(key) >= 1 && len(key) <= store.MaxKeyBytes && len(value) <= store.MaxValueBytes
		if (err == nil) != wantOK {
			t.Fatalf("PutCommand(%d-byte key, %d-byte value) err = %v, want ok=%v", len(key), len(value), err, wantOK)
		}
		if err != nil {
			return
		}
		s := mustOpen(t)
		if res := mustApply(t, s, 1, cmd); res.Err != nil {
			t.Fatalf("accepted command rejected by Apply: %v", res.Err)
		}
		kv, err := s.Get(key)
		if err != nil || !bytes.Equal(kv.Value, value) {
			t.Fatalf("Get after Put = %v, %v", kv, err)
		}
	})
}
