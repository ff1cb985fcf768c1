package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// TestStore_ApplyBatchEqualsSequentialApply: one batch leaves exactly the
// state, results and applied index that the same entries applied one by
// one leave, including writes to one key within the batch, deletes,
// conditional writes and replayed (skipped) entries.
func TestStore_ApplyBatchEqualsSequentialApply(t *testing.T) {
	var entries []store.Entry
	for i := 1; i <= 40; i++ {
		var data []byte
		switch {
		case i%7 == 0:
			data = delCmd(t, fmt.Sprintf("k%d", i%5))
		case i%11 == 0:
			cmd, err := store.CompareAndSwapCommand([]byte("k1"), nil, []byte("cas"))
			if err != nil {
				t.Fatal(err)
			}
			data = cmd
		default:
			data = putCmd(t, fmt.Sprintf("k%d", i%5), fmt.Sprintf("v%d", i))
		}
		entries = append(entries, store.Entry{Index: uint64(i), Data: data})
	}
	one, batched := mustOpen(t), mustOpen(t)
	var want []store.Result
	for _, e := range entries {
		want = append(want, mustApply(t, one, e.Index, e.Data))
	}
	got, err := batched.ApplyBatch(entries[:25])
	if err != nil {
		t.Fatal(err)
	}
	rest, err := batched.ApplyBatch(entries[20:]) // 21..25 again: skipped
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rest[:5] {
		if !r.Skipped {
			t.Errorf("replayed entry %d not skipped: %+v", entries[20+i].Index, r)
		}
	}
	got = append(got, rest[5:]...)
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("entry %d: batched result %+v, sequential %+v", i+1, got[i], want[i])
		}
	}
	assertState(t, mustState(t, batched), mustState(t, one))
}

// TestStore_ApplyBatchCorruptEntryChangesNothing: a corrupt entry anywhere
// in a batch is fatal for the whole batch and nothing is written.
func TestStore_ApplyBatchCorruptEntryChangesNothing(t *testing.T) {
	s := mustOpen(t)
	mustApply(t, s, 1, putCmd(t, "a", "1"))
	before := mustState(t, s)
	_, err := s.ApplyBatch([]store.Entry{
		{Index: 2, Data: putCmd(t, "a", "2")},
		{Index: 3, Data: []byte{0xff, 0x01, 0x02}},
	})
	if !errors.Is(err, store.ErrCorruptEntry) {
		t.Fatalf("err = %v, want ErrCorruptEntry", err)
	}
	assertState(t, mustState(t, s), before)
}
