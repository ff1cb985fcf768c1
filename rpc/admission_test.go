package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
	"github.com/raftkv/raftkv/store"
)

// TestAdmission_RefusesBeyondLimit holds the write limit's worth of Puts
// inside Apply, then checks that one more is refused at once with
// ResourceExhausted/OVERLOADED and a retry hint, that the refused write is
// never applied, that reads and Status are not affected, and that writes
// are admitted again once the held ones finish.
func TestAdmission_RefusesBeyondLimit(t *testing.T) {
	gate := make(chan struct{})
	node, cc := startFake(t, Config{MaxInflightWrites: 2, OverloadRetryAfter: 30 * time.Millisecond}, gate)
	kv := kvpb.NewKVClient(cc)
	ctx := t.Context()

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := range 2 {
		wg.Go(func() {
			_, err := kv.Put(ctx, &kvpb.PutRequest{Key: fmt.Appendf(nil, "held-%d", i), Value: []byte("v")})
			errs <- err
		})
	}
	raftnodetest.WaitFor(t, 5*time.Second, "two writes held in Apply", func() bool { return node.blocked() == 2 })

	for _, req := range []*kvpb.PutRequest{{Key: []byte("refused"), Value: []byte("v")}} {
		_, err := kv.Put(ctx, req)
		st := status.Convert(err)
		if st.Code() != codes.ResourceExhausted || reasonOf(err) != ReasonOverloaded {
			t.Fatalf("third Put = %v; want ResourceExhausted/OVERLOADED", err)
		}
		if d := retryDelay(err); d != 30*time.Millisecond {
			t.Errorf("retry hint = %v, want 30ms", d)
		}
	}
	// CompareAndSwap and Delete share the write limit.
	if _, err := kv.Delete(ctx, &kvpb.DeleteRequest{Key: []byte("held-0")}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Delete while full = %v, want ResourceExhausted", err)
	}
	// Reads and cluster status have their own budget and stay open.
	if _, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("refused")}); status.Code(err) != codes.NotFound {
		t.Errorf("Get while writes are full = %v, want NotFound", err)
	}
	if _, err := kvpb.NewClusterClient(cc).Status(ctx, &kvpb.StatusRequest{}); err != nil {
		t.Errorf("Status while writes are full: %v", err)
	}

	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("held Put: %v", err)
		}
	}
	if got := node.lastIndex(); got != 2 {
		t.Errorf("applied %d entries, want 2 (refused writes must not be applied)", got)
	}
	if _, _, err := node.st.GetAt([]byte("refused")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused key: %v, want not found", err)
	}
	if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("after"), Value: []byte("v")}); err != nil {
		t.Errorf("Put after the held writes finished: %v", err)
	}
}

// TestAdmission_Classes pins which methods take which budget.
func TestAdmission_Classes(t *testing.T) {
	for method, want := range map[string]admissionClass{
		"/kv.v1.KV/Put":                 classWrite,
		"/kv.v1.KV/Delete":              classWrite,
		"/kv.v1.KV/CompareAndSwap":      classWrite,
		"/kv.v1.Cluster/Join":           classWrite,
		"/kv.v1.KV/Get":                 classRead,
		"/kv.v1.KV/List":                classRead,
		"/kv.v1.Cluster/Members":        classOpen,
		"/kv.v1.Cluster/Status":         classOpen,
		"/grpc.health.v1.Health/Check":  classOpen,
		"/grpc.health.v1.Health/Watch":  classOpen,
		"/kv.v1.KV/SomethingAddedLater": classOpen,
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": classOpen,
	} {
		if got := methodClass(method); got != want {
			t.Errorf("methodClass(%s) = %v, want %v", method, got, want)
		}
	}
}

// TestAdmission_Unlimited checks that a negative limit turns admission off.
func TestAdmission_Unlimited(t *testing.T) {
	gate := make(chan struct{})
	node, cc := startFake(t, Config{MaxInflightWrites: -1}, gate)
	kv := kvpb.NewKVClient(cc)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: fmt.Appendf(nil, "k%d", i)}); err != nil {
				t.Errorf("Put: %v", err)
			}
		})
	}
	raftnodetest.WaitFor(t, 5*time.Second, "50 writes in flight", func() bool { return node.blocked() == 50 })
	close(gate)
	wg.Wait()
}

// retryDelay returns the RetryInfo delay of a status error, or 0.
func retryDelay(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// TestGate_WaitsForAFreedSlot checks the admission gate's queue: a request
// that finds the node full waits for a slot and takes it the moment one is
// freed; only as many may wait as there are slots, and the next is refused
// at once; a wait ends, refused, when it expires or the caller gives up.
func TestGate_WaitsForAFreedSlot(t *testing.T) {
	ctx := t.Context()
	g := newGate(1, time.Hour)
	if !g.acquire(ctx) {
		t.Fatal("first request refused by an empty gate")
	}
	admitted := make(chan bool)
	go func() { admitted <- g.acquire(ctx) }()
	raftnodetest.WaitFor(t, 5*time.Second, "one request waiting", func() bool { return len(g.queue) == 1 })
	if g.acquire(ctx) { // would wait an hour if the full queue did not refuse at once
		t.Fatal("a request beyond the limit and the queue was admitted")
	}
	g.release()
	if !<-admitted {
		t.Fatal("the waiting request was refused although a slot was freed")
	}
	if g.inflight() != 1 || len(g.queue) != 0 {
		t.Fatalf("inflight %d, waiting %d; want 1 and 0", g.inflight(), len(g.queue))
	}

	short := newGate(1, time.Millisecond)
	short.acquire(ctx)
	if short.acquire(ctx) {
		t.Fatal("admitted after the wait expired with the slot still taken")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if g.acquire(cancelled) {
		t.Fatal("admitted a request whose caller had given up")
	}
	if newGate(0, time.Hour) != nil || !(*gate)(nil).acquire(ctx) {
		t.Fatal("a zero limit must admit everything")
	}
}
