package server_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
	"github.com/raftkv/raftkv/store"
)

// TestAdmission_OverloadRefusesAndClientRecovers runs a 3-node cluster with
// a write limit of 2 per node and sends 16× that many concurrent writes:
//
//   - raw gRPC writes through a follower (so they are counted there and
//     again on the leader) either succeed or fail with
//     ResourceExhausted/OVERLOADED, and no refused write is ever applied;
//   - client writes either succeed or fail fast with ErrOverloaded (the
//     client retries refusals only while most of its calls succeed, and
//     honours the retry hint), nothing else, and the client writes again
//     once the burst is over.
func TestAdmission_OverloadRefusesAndClientRecovers(t *testing.T) {
	const limit, writers = 2, 32
	c := servertest.StartCluster(t, 3, func(cfg *server.Config) { cfg.MaxInflightWrites = limit })
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[follower]))
	ctx := ctxTimeout(t, 30*time.Second)

	var refused, ok sync.Map
	var nRefused atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range 5 {
				key := fmt.Sprintf("raw-%d-%d", w, i)
				_, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte(key), Value: []byte("v")})
				switch st := status.Convert(err); {
				case err == nil:
					ok.Store(key, true)
				case st.Code() == codes.ResourceExhausted:
					refused.Store(key, true)
					nRefused.Add(1)
				default:
					t.Errorf("Put %s: %v; want success or ResourceExhausted", key, err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("raw writes: %d of %d refused as OVERLOADED", nRefused.Load(), writers*5)

	// Let every replica catch up, then check refused writes left no trace.
	leaderNode := c.Node(c.Leader(leaderWait))
	last := leaderNode.Node().Status().LastLogIndex
	servertest.WaitFor(t, 10*time.Second, "replicas applied the leader's log", func() bool {
		for i := range c.Size() {
			if c.Node(i).Node().AppliedIndex() < last {
				return false
			}
		}
		return true
	})
	for i := range c.Size() {
		st := c.Node(i).Store()
		refused.Range(func(k, _ any) bool {
			if _, _, err := st.GetAt([]byte(k.(string))); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("node %d: refused key %s: %v, want not found", i, k, err)
			}
			return true
		})
		ok.Range(func(k, _ any) bool {
			if _, _, err := st.GetAt([]byte(k.(string))); err != nil {
				t.Errorf("node %d: acknowledged key %s: %v", i, k, err)
			}
			return true
		})
	}

	// The Go client retries OVERLOADED with backoff while most of its calls
	// succeed, and fails fast with ErrOverloaded (nothing applied) once most
	// are refused, so that it does not add to the overload. Each write
	// either succeeds or is refused, and after the burst it works again.
	cl := newClient(t, c.Endpoints()...)
	var done, shed atomic.Int64
	for w := range writers {
		wg.Go(func() {
			for i := range 5 {
				switch _, err := cl.Put(ctx, fmt.Sprintf("client-%d-%d", w, i), []byte("v")); {
				case err == nil:
					done.Add(1)
				case errors.Is(err, client.ErrOverloaded) && !errors.Is(err, client.ErrOutcomeUnknown):
					shed.Add(1)
				default:
					t.Errorf("client Put: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if done.Load() == 0 {
		t.Fatalf("no client write succeeded (%d shed)", shed.Load())
	}
	t.Logf("client burst: %d written, %d shed with ErrOverloaded", done.Load(), shed.Load())
	for i := range 3 {
		if _, err := cl.Put(ctx, fmt.Sprintf("after-%d", i), []byte("v")); err != nil {
			t.Fatalf("sequential Put after the burst: %v", err)
		}
	}
}
