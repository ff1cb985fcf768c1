package store_test

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// TestStore_List checks prefix matching, byte order, limit and the more
// flag.
func TestStore_List(t *testing.T) {
	s := mustOpen(t)
	keys := []string{"b", "ab", "a", "abd", "abc", "ba", "\xff", "\xff\x00", "a\xff"}
	for i, k := range keys {
		mustApply(t, s, uint64(i+1), putCmd(t, k, "v-"+k))
	}
	tests := []struct {
		prefix   string
		limit    int
		want     []string
		wantMore bool
	}{
		{"", 0, []string{"a", "ab", "abc", "abd", "a\xff", "b", "ba", "\xff", "\xff\x00"}, false},
		{"", -1, []string{"a", "ab", "abc", "abd", "a\xff", "b", "ba", "\xff", "\xff\x00"}, false},
		{"", store.MaxListLimit + 1, []string{"a", "ab", "abc", "abd", "a\xff", "b", "ba", "\xff", "\xff\x00"}, false},
		{"", 1, []string{"a"}, true},
		{"a", 0, []string{"a", "ab", "abc", "abd", "a\xff"}, false},
		{"ab", 0, []string{"ab", "abc", "abd"}, false},
		{"ab", 2, []string{"ab", "abc"}, true},
		{"ab", 3, []string{"ab", "abc", "abd"}, false},
		{"abc", 0, []string{"abc"}, false},
		{"abcd", 0, nil, false},
		{"c", 0, nil, false},
		{"\xff", 0, []string{"\xff", "\xff\x00"}, false},
		{"\xff", 1, []string{"\xff"}, true},
	}
	for _, tt := range tests {
		t.Run("prefix="+tt.prefix+"/limit="+strconv.Itoa(tt.limit), func(t *testing.T) {
			kvs, more, err := s.List([]byte(tt.prefix), tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, kv := range kvs {
				got = append(got, string(kv.Key))
				if string(kv.Value) != "v-"+string(kv.Key) {
					t.Errorf("key %q has value %q", kv.Key, kv.Value)
				}
				if kv.CreateIndex == 0 || kv.ModIndex != kv.CreateIndex {
					t.Errorf("key %q has indexes %d/%d", kv.Key, kv.CreateIndex, kv.ModIndex)
				}
			}
			if !slices.Equal(got, tt.want) || more != tt.wantMore {
				t.Fatalf("List = %q more=%v, want %q more=%v", got, more, tt.want, tt.wantMore)
			}
		})
	}
}

// TestStore_ReadInvalidArguments checks that reads validate their input.
func TestStore_ReadInvalidArguments(t *testing.T) {
	s := mustOpen(t)
	if _, err := s.Get(nil); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("Get(empty) = %v, want ErrInvalidArgument", err)
	}
	if _, err := s.Get(make([]byte, store.MaxKeyBytes+1)); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("Get(too long) = %v, want ErrInvalidArgument", err)
	}
	if _, _, err := s.List(make([]byte, store.MaxKeyBytes+1), 0); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("List(too long prefix) = %v, want ErrInvalidArgument", err)
	}
}

// TestStore_GetReturnsCopies checks that callers may modify what Get and
// List return.
func TestStore_GetReturnsCopies(t *testing.T) {
	s := mustOpen(t)
	mustApply(t, s, 1, putCmd(t, "k", "value"))
	kv, err := s.Get([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	copy(kv.Key, "X")
	copy(kv.Value, "XXXXX")
	kvs, _, err := s.List(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	copy(kvs[0].Value, "YYYYY")
	again, err := s.Get([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Key) != "k" || string(again.Value) != "value" {
		t.Fatalf("stored data changed through returned slices: %+v", again)
	}
}

// TestStore_NodeMeta checks recording, replacing and listing node
// addresses.
func TestStore_NodeMeta(t *testing.T) {
	s := mustOpen(t)
	if _, ok := s.NodeMeta("n1"); ok {
		t.Fatal("NodeMeta of an unknown node reported ok")
	}
	all, err := s.AllNodeMeta()
	if err != nil || all == nil || len(all) != 0 {
		t.Fatalf("AllNodeMeta on empty store = %v, %v; want empty map", all, err)
	}
	if res := mustApply(t, s, 1, metaCmd(t, "n1", "g:1", "r:1")); res.Op != store.OpSetNodeMeta || res.Err != nil {
		t.Fatalf("Result = %+v", res)
	}
	mustApply(t, s, 2, metaCmd(t, "n2", "g:2", "r:2"))
	mustApply(t, s, 3, metaCmd(t, "n1", "g:11", "r:11"))

	if m, ok := s.NodeMeta("n1"); !ok || m != (store.NodeMeta{GRPCAddr: "g:11", RaftAddr: "r:11"}) {
		t.Fatalf("NodeMeta(n1) = %+v, %v", m, ok)
	}
	all, err = s.AllNodeMeta()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.NodeMeta{
		"n1": {GRPCAddr: "g:11", RaftAddr: "r:11"},
		"n2": {GRPCAddr: "g:2", RaftAddr: "r:2"},
	}
	if !maps.Equal(all, want) {
		t.Fatalf("AllNodeMeta = %v, want %v", all, want)
	}
	// Node meta lives apart from user keys.
	if kvs, _, err := s.List(nil, 0); err != nil || len(kvs) != 0 {
		t.Fatalf("List after node meta = %v, %v; want no keys", kvs, err)
	}
}
