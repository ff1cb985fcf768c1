package server_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/server/servertest"
)

const leaderWait = 10 * time.Second

func newClient(t *testing.T, endpoints ...string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: endpoints, DialTimeout: time.Second})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitConverged waits until every running node has applied the same index
// and holds want[key] for every key.
func waitConverged(t *testing.T, c *servertest.Cluster, want map[string]string) {
	t.Helper()
	servertest.WaitFor(t, 10*time.Second, "all replicas to converge", func() bool {
		var applied uint64
		for i := range c.Size() {
			s := c.Node(i)
			if s == nil {
				continue
			}
			a := s.Store().AppliedIndex()
			if applied != 0 && a != applied {
				return false
			}
			applied = a
			for k, v := range want {
				kv, err := s.Store().Get([]byte(k))
				if err != nil || string(kv.Value) != v {
					return false
				}
			}
		}
		return true
	})
}

func TestCluster_ReplicatesToAllNodes(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	c.Leader(leaderWait)
	cl := newClient(t, c.Endpoints()[0])
	ctx := ctxTimeout(t, 20*time.Second)
	want := map[string]string{}
	for i := range 50 {
		k, v := fmt.Sprintf("key/%02d", i), fmt.Sprintf("value-%d", i)
		if _, err := cl.Put(ctx, k, []byte(v)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		want[k] = v
	}
	waitConverged(t, c, want)

	got, err := cl.Get(ctx, "key/07")
	if err != nil || string(got.KV.Value) != "value-7" {
		t.Fatalf("get key/07 = %+v, %v; want value-7", got, err)
	}
	if got.KV.CreateIndex == 0 || got.KV.ModIndex < got.KV.CreateIndex {
		t.Fatalf("bad indexes on %+v", got.KV)
	}
	list, err := cl.List(ctx, "key/", client.WithLimit(10))
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.KVs) != 10 || !list.More || list.KVs[0].Key != "key/00" {
		t.Fatalf("list = %d keys, more=%v, first=%q; want 10, true, key/00", len(list.KVs), list.More, list.KVs[0].Key)
	}
	del, err := cl.Delete(ctx, "key/07")
	if err != nil || !del.Deleted {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	if _, err := cl.Get(ctx, "key/07"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get deleted key: err = %v, want ErrNotFound", err)
	}
	members, err := cl.Members(ctx)
	if err != nil || len(members) != 3 {
		t.Fatalf("members = %+v, %v", members, err)
	}
	leaders := 0
	for _, m := range members {
		if m.GRPCAddr == "" || !m.Voter {
			t.Errorf("member %+v: want a voter with a gRPC address", m)
		}
		if m.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("members report %d leaders, want 1", leaders)
	}
}

func TestCluster_LeaderFailoverIsTransparent(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	old := c.Leader(leaderWait)
	// One endpoint only: the client must learn the rest from the cluster.
	cl := newClient(t, c.Endpoints()[(old+1)%3])
	ctx := ctxTimeout(t, 30*time.Second)
	want := map[string]string{}
	for i := range 20 {
		k := fmt.Sprintf("before/%d", i)
		if _, err := cl.Put(ctx, k, []byte("v")); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		want[k] = "v"
	}

	c.Stop(old)
	// The caller changes nothing: the next Put finds the new leader.
	if _, err := cl.Put(ctx, "after", []byte("failover")); err != nil {
		t.Fatalf("put after leader stop: %v", err)
	}
	want["after"] = "failover"
	next := c.Leader(leaderWait)
	if next == old {
		t.Fatalf("leader is still the stopped node %d", old)
	}
	got, err := cl.Get(ctx, "after")
	if err != nil || string(got.KV.Value) != "failover" {
		t.Fatalf("get after failover = %+v, %v", got, err)
	}

	// The old leader restarts on its data and catches up without applying
	// anything twice: its content and applied index match the others'.
	c.Start(old)
	for i := range 10 {
		k := fmt.Sprintf("later/%d", i)
		if _, err := cl.Put(ctx, k, []byte("v")); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		want[k] = "v"
	}
	waitConverged(t, c, want)
}

// TestCluster_LinearizableReadsNeverGoBack runs a writer that counts up and
// readers that check every read returns at least the last value whose write
// was acknowledged before the read began, while the leader is stopped.
func TestCluster_LinearizableReadsNeverGoBack(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	old := c.Leader(leaderWait)
	cl := newClient(t, c.Endpoints()...)
	ctx := ctxTimeout(t, 40*time.Second)
	if _, err := cl.Put(ctx, "counter", []byte("0")); err != nil {
		t.Fatalf("seed put: %v", err)
	}

	var acked atomic.Int64 // highest acknowledged counter value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErrs, readErrs atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, err := cl.Put(ctx, "counter", []byte(strconv.FormatInt(i, 10)))
			switch {
			case err == nil:
				acked.Store(i)
			case errors.Is(err, client.ErrOutcomeUnknown):
				// Allowed: the write may or may not have happened.
			default:
				writeErrs.Add(1)
				t.Errorf("write %d: %v", i, err)
				return
			}
		}
	}()
	var reads atomic.Int64
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reader := newClient(t, c.Endpoints()[r])
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := acked.Load()
				got, err := reader.Get(ctx, "counter")
				if err != nil {
					readErrs.Add(1)
					t.Errorf("read: %v", err)
					return
				}
				v, _ := strconv.ParseInt(string(got.KV.Value), 10, 64)
				if v < floor {
					t.Errorf("read %d from %s after %d was acknowledged: stale read", v, got.Header.NodeID, floor)
					return
				}
				reads.Add(1)
			}
		}()
	}
	servertest.WaitFor(t, 10*time.Second, "traffic before the fault", func() bool { return acked.Load() > 20 && reads.Load() > 20 })
	c.Stop(old)
	before := acked.Load()
	servertest.WaitFor(t, 15*time.Second, "writes to resume on a new leader", func() bool { return acked.Load() > before+20 })
	close(stop)
	wg.Wait()
	t.Logf("acknowledged writes: %d, checked reads: %d", acked.Load(), reads.Load())
}
