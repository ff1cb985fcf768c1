package store

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// TestStore_ListCapsAtMaxListLimit writes MaxListLimit+1 keys in a single
// bbolt transaction (applying them one by one would fsync 10001 times) and
// checks that List never returns more than MaxListLimit.
func TestStore_ListCapsAtMaxListLimit(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "kv.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	err = s.ref.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketData)
		for i := range MaxListLimit + 1 {
			v, err := proto.Marshal(&fsmpb.StoredValue{Value: []byte("v"), CreateIndex: 1, ModIndex: 1})
			if err != nil {
				return err
			}
			if err := b.Put(fmt.Appendf(nil, "k%06d", i), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, -5, MaxListLimit, MaxListLimit + 1, 1 << 30} {
		kvs, more, err := s.List([]byte("k"), limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(kvs) != MaxListLimit || !more {
			t.Fatalf("List(limit=%d) returned %d keys, more=%v; want %d, true", limit, len(kvs), more, MaxListLimit)
		}
	}
	kvs, more, err := s.List([]byte("k010000"), 0)
	if err != nil || len(kvs) != 1 || more {
		t.Fatalf("List(last key) = %d keys, more=%v, %v", len(kvs), more, err)
	}
}
