package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// TestStore_ReadsDuringRestore swaps a store between two states, X and Y,
// while readers and snapshotters run. Every read must succeed and see
// exactly one of the two states, never a mix or a half-restored store.
// Run it with -race.
func TestStore_ReadsDuringRestore(t *testing.T) {
	const nKeys = 20
	build := func(tag string, first uint64) ([]byte, uint64) {
		s := mustOpen(t)
		for i := range nKeys {
			mustApply(t, s, first+uint64(i), putCmd(t, fmt.Sprintf("k%02d", i), tag))
		}
		mustApply(t, s, first+nKeys, metaCmd(t, "n1", "g:"+tag, "r:"+tag))
		return snapshotBytes(t, s)
	}
	blobX, indexX := build("x", 1)
	blobY, indexY := build("y", 100)

	s := mustOpen(t)
	if err := s.Restore(bytes.NewReader(blobX)); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	defer func() {
		close(stop)
		wg.Wait()
		if reads.Load() == 0 {
			t.Error("readers never ran")
		}
	}()
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	for range 4 {
		wg.Go(func() {
			for running() {
				checkOneState(t, s, nKeys, indexX, indexY)
				reads.Add(1)
			}
		})
	}
	wg.Go(func() {
		for running() {
			sn, err := s.Snapshot()
			if err != nil {
				t.Errorf("Snapshot during Restore: %v", err)
				return
			}
			if i := sn.Index(); i != indexX && i != indexY {
				t.Errorf("Snapshot.Index = %d, want %d or %d", i, indexX, indexY)
			}
			if _, err := sn.WriteTo(io.Discard); err != nil {
				t.Errorf("WriteTo during Restore: %v", err)
			}
			sn.Release()
		}
	})

	for i := range 30 {
		blob := blobY
		if i%2 == 1 {
			blob = blobX
		}
		if err := s.Restore(bytes.NewReader(blob)); err != nil {
			t.Fatalf("Restore %d: %v", i, err)
		}
	}
}

// checkOneState reads s and reports (with t.Errorf, safe off the test
// goroutine) anything that is not wholly state X or wholly state Y.
func checkOneState(t *testing.T, s *store.Store, nKeys int, indexX, indexY uint64) {
	kv, err := s.Get([]byte("k07"))
	if err != nil {
		t.Errorf("Get during Restore: %v", err)
		return
	}
	if v := string(kv.Value); v != "x" && v != "y" {
		t.Errorf("Get during Restore = %q", v)
	}

	kvs, more, err := s.List([]byte("k"), 0)
	if err != nil {
		t.Errorf("List during Restore: %v", err)
		return
	}
	if len(kvs) != nKeys || more {
		t.Errorf("List during Restore returned %d keys (more=%v), want %d", len(kvs), more, nKeys)
		return
	}
	for _, kv := range kvs[1:] {
		if !bytes.Equal(kv.Value, kvs[0].Value) {
			t.Errorf("List during Restore mixes states: %q and %q", kvs[0].Value, kv.Value)
			return
		}
	}

	m, ok := s.NodeMeta("n1")
	if !ok || (m.GRPCAddr != "g:x" && m.GRPCAddr != "g:y") {
		t.Errorf("NodeMeta during Restore = %+v, %v", m, ok)
	}
	if _, err := s.AllNodeMeta(); err != nil {
		t.Errorf("AllNodeMeta during Restore: %v", err)
	}
	if i := s.AppliedIndex(); i != indexX && i != indexY {
		t.Errorf("AppliedIndex during Restore = %d, want %d or %d", i, indexX, indexY)
	}
	if _, err := s.Get([]byte("missing")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) during Restore = %v, want ErrNotFound", err)
	}
}
