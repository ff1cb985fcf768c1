package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// TestStore_GetAtIndexMatchesData: while a single key is rewritten at every
// index, each GetAt must report exactly the index that wrote the value it
// returns (the value and the index come from one read transaction). The
// chaos harness caught responses whose index was one write off.
func TestStore_GetAtIndexMatchesData(t *testing.T) {
	s := mustOpen(t)
	first, err := store.PutCommand([]byte("k"), []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(1, first); err != nil {
		t.Fatal(err)
	}
	const writes = 300
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 2; i <= writes; i++ {
			cmd, _ := store.PutCommand([]byte("k"), fmt.Appendf(nil, "%d", i))
			if _, err := s.Apply(uint64(i), cmd); err != nil {
				t.Errorf("apply %d: %v", i, err)
				return
			}
		}
	})
	for {
		kv, idx, err := s.GetAt([]byte("k"))
		if err != nil {
			t.Fatal(err)
		}
		if kv.ModIndex != idx || string(kv.Value) != fmt.Sprint(idx) {
			t.Fatalf("GetAt = value %q mod %d at index %d; want the value written at that index", kv.Value, kv.ModIndex, idx)
		}
		kvs, _, lidx, err := s.ListAt(nil, 0)
		if err != nil || len(kvs) != 1 || kvs[0].ModIndex != lidx {
			t.Fatalf("ListAt = %v at %d, %v", kvs, lidx, err)
		}
		if idx == writes {
			break
		}
	}
	wg.Wait()
	if _, idx, err := s.GetAt([]byte("missing")); err == nil || idx != writes {
		t.Fatalf("GetAt(missing) = index %d, %v; want ErrNotFound at %d", idx, err, writes)
	}
}
