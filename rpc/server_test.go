package rpc

import (
	"sync"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// metaReader is a Reader with settable node metadata and applied index
// that counts NodeMeta lookups.
type metaReader struct {
	Reader // nil: only the methods below are used

	mu      sync.Mutex // guards the fields below
	meta    map[string]store.NodeMeta
	applied uint64
	lookups int
}

func (r *metaReader) NodeMeta(id string) (store.NodeMeta, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	m, ok := r.meta[id]
	return m, ok
}

func (r *metaReader) AppliedIndex() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// set records id's address as applied at index applied.
func (r *metaReader) set(id, grpcAddr string, applied uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.meta[id] = store.NodeMeta{GRPCAddr: grpcAddr}
	r.applied = applied
}

func (r *metaReader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

// TestServer_LeaderAddrReusedUntilApplied: the leader's address is looked
// up in the store once per applied index and leader, and a change applied
// later is seen at once.
func TestServer_LeaderAddrReusedUntilApplied(t *testing.T) {
	r := &metaReader{meta: map[string]store.NodeMeta{}}
	s, err := NewServer(Config{GRPCAddr: "self:1"}, &fakeNode{}, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	r.set("n2", "old:2", 5)
	for range 3 {
		if got := s.leaderAddr("n2"); got != "old:2" {
			t.Fatalf("leaderAddr(n2) = %q, want old:2", got)
		}
	}
	if n := r.count(); n != 1 {
		t.Fatalf("%d lookups for one leader at one applied index, want 1", n)
	}

	r.set("n2", "new:2", 6) // the address changed by a command
	if got := s.leaderAddr("n2"); got != "new:2" {
		t.Fatalf("leaderAddr(n2) after the change = %q, want new:2", got)
	}
	if got := s.leaderAddr("n3"); got != "" {
		t.Fatalf("leaderAddr(n3), unknown = %q, want empty", got)
	}
	r.set("n3", "three:3", 7)
	if got := s.leaderAddr("n3"); got != "three:3" {
		t.Fatalf("leaderAddr(n3) once registered = %q, want three:3", got)
	}
	if got := s.leaderAddr("n1"); got != "self:1" { // fakeNode's own id
		t.Fatalf("leaderAddr(self) = %q, want self:1", got)
	}
	if got := s.leaderAddr(""); got != "" {
		t.Fatalf("leaderAddr(\"\") = %q", got)
	}
	if n := r.count(); n != 4 {
		t.Fatalf("%d lookups in all, want 4", n)
	}
}
