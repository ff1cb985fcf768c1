package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/server/servertest"
)

func stale(minIndex uint64) *kvpb.ReadOptions {
	return &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE, MinIndex: minIndex}
}

func bounded(d time.Duration) *kvpb.ReadOptions {
	return &kvpb.ReadOptions{Consistency: kvpb.Consistency_BOUNDED, MaxStalenessMs: d.Milliseconds()}
}

func reasonOf(err error) (string, map[string]string) {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason(), info.GetMetadata()
		}
	}
	return "", nil
}

// TestReads_ReadYourWritesOnFollower: 1,000 rounds of a write on the leader
// followed at once by a stale read on a follower carrying the write's index
// as min_index; the follower must never miss the write.
func TestReads_ReadYourWritesOnFollower(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	w := kvpb.NewKVClient(dial(t, c.Endpoints()[leader]))
	r := kvpb.NewKVClient(dial(t, c.Endpoints()[follower]))
	ctx := ctxTimeout(t, 2*time.Minute)
	misses := 0
	for i := range 1000 {
		v := fmt.Sprintf("v%d", i)
		put, err := w.Put(ctx, &kvpb.PutRequest{Key: []byte("ryw"), Value: []byte(v)})
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		got, err := r.Get(ctx, &kvpb.GetRequest{Key: []byte("ryw"), Read: stale(put.GetIndex())})
		if err != nil {
			t.Fatalf("stale get %d: %v", i, err)
		}
		h := got.GetHeader()
		if h.GetNodeId() != c.Node(follower).ID() || h.GetConsistency() != kvpb.Consistency_STALE {
			t.Fatalf("served by %s at %v, want %s at STALE", h.GetNodeId(), h.GetConsistency(), c.Node(follower).ID())
		}
		if string(got.GetKv().GetValue()) != v {
			misses++
		}
	}
	if misses != 0 {
		t.Fatalf("%d of 1000 read-your-writes reads missed the write", misses)
	}
}

// TestReads_QuorumLoss stops two of three nodes. The survivor must refuse
// writes and linearizable reads fast with NO_QUORUM, keep serving stale
// reads of every acknowledged value flagged degraded, refuse bounded reads
// once the bound has passed, and report it all through health. When the
// others return, writes resume and nothing acknowledged is lost.
func TestReads_QuorumLoss(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	survivor := (leader + 1) % 3
	cc := dial(t, c.Endpoints()[survivor])
	kv := kvpb.NewKVClient(cc)
	health := healthpb.NewHealthClient(cc)
	ctx := ctxTimeout(t, time.Minute)

	acked := map[string]string{}
	var last uint64
	for i := range 20 {
		k, v := fmt.Sprintf("q/%d", i), fmt.Sprintf("v%d", i)
		put, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte(k), Value: []byte(v)})
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		acked[k], last = v, put.GetIndex()
	}
	// A write is acknowledged once a majority has it, which need not include
	// the survivor: wait until it has applied the last one, or the check
	// below would be about replication lag rather than degraded reads.
	servertest.WaitFor(t, 5*time.Second, "the survivor to apply every acknowledged write", func() bool {
		return c.Node(survivor).Store().AppliedIndex() >= last
	})
	for i := range 3 {
		if i != survivor {
			c.Stop(i)
		}
	}
	stopped := time.Now()

	var rejectedAfter time.Duration
	servertest.WaitFor(t, 5*time.Second, "writes to be refused with NO_QUORUM", func() bool {
		_, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("q/lost"), Value: []byte("x")})
		reason, md := reasonOf(err)
		if reason == rpc.ReasonNoQuorum && md["since"] != "" && md["node_id"] == c.Node(survivor).ID() {
			rejectedAfter = time.Since(stopped)
			return true
		}
		return false
	})
	t.Logf("writes refused with NO_QUORUM %v after quorum loss", rejectedAfter)
	if rejectedAfter > 2*time.Second {
		t.Errorf("took %v to refuse writes, want under 2s", rejectedAfter)
	}
	start := time.Now()
	_, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("q/1")})
	if reason, _ := reasonOf(err); status.Code(err) != codes.Unavailable || reason != rpc.ReasonNoQuorum {
		t.Fatalf("linearizable read without quorum: %v, want NO_QUORUM", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("linearizable read took %v to fail, want under 1s", d)
	}
	for k, v := range acked {
		got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte(k), Read: stale(0)})
		if err != nil || string(got.GetKv().GetValue()) != v {
			t.Fatalf("stale read of %s = %v, %v; want %s", k, got, err, v)
		}
		if !got.GetHeader().GetDegraded() || got.GetHeader().GetLeaderKnown() {
			t.Fatalf("stale read header %+v: want degraded, no leader", got.GetHeader())
		}
	}
	_, err = kv.Get(ctx, &kvpb.GetRequest{Key: []byte("q/1"), Read: bounded(200 * time.Millisecond)})
	if reason, md := reasonOf(err); reason != rpc.ReasonStale || md["last_contact_ms"] == "" {
		t.Fatalf("bounded read past its bound: %v, want STALE", err)
	}
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health %q: %v", service, err)
		}
		return r.GetStatus()
	}
	servertest.WaitFor(t, 2*time.Second, "health to show degraded", func() bool {
		return check(rpc.WriteService) == healthpb.HealthCheckResponse_NOT_SERVING &&
			check(rpc.StaleReadService) == healthpb.HealthCheckResponse_SERVING
	})

	// The survivor restarted alone still serves stale reads at once.
	c.Stop(survivor)
	c.Start(survivor)
	got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("q/7"), Read: stale(0)})
	if err != nil || string(got.GetKv().GetValue()) != "v7" {
		t.Fatalf("stale read after lone restart = %v, %v", got, err)
	}

	for i := range 3 {
		if i != survivor {
			c.Start(i)
		}
	}
	servertest.WaitFor(t, 10*time.Second, "writes to resume", func() bool {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := kv.Put(wctx, &kvpb.PutRequest{Key: []byte("q/back"), Value: []byte("yes")})
		return err == nil
	})
	for k, v := range acked {
		got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte(k)})
		if err != nil || string(got.GetKv().GetValue()) != v {
			t.Fatalf("after recovery %s = %v, %v; want %s", k, got, err, v)
		}
	}
}

// TestReads_BoundedOnHealthyFollower: a follower in touch with its leader
// serves bounded reads; an invalid bound is InvalidArgument.
func TestReads_BoundedOnHealthyFollower(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	follower := (leader + 2) % 3
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[follower]))
	ctx := ctxTimeout(t, 20*time.Second)
	put, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("b"), Value: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("b"), Read: &kvpb.ReadOptions{
		Consistency: kvpb.Consistency_BOUNDED, MaxStalenessMs: 2000, MinIndex: put.GetIndex()}})
	if err != nil || string(got.GetKv().GetValue()) != "1" {
		t.Fatalf("bounded read = %v, %v", got, err)
	}
	if h := got.GetHeader(); h.GetNodeId() != c.Node(follower).ID() || h.GetConsistency() != kvpb.Consistency_BOUNDED || h.GetDegraded() {
		t.Fatalf("header %+v", h)
	}
	_, err = kv.Get(ctx, &kvpb.GetRequest{Key: []byte("b"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_BOUNDED}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bounded without a bound: %v, want InvalidArgument", err)
	}
	list, err := kv.List(ctx, &kvpb.ListRequest{Read: stale(put.GetIndex())})
	if err != nil || len(list.GetKvs()) != 1 || list.GetHeader().GetConsistency() != kvpb.Consistency_STALE {
		t.Fatalf("stale list = %v, %v", list, err)
	}
}

// TestReads_HeaderCountsEntriesAfterLastCommand is the regression scenario
// for chaos seeds 907 and 909: after a leader change with no write since,
// the new leader's no-op and barrier are applied but never reach the store,
// and stale reads reported the index of the last command while Status
// reported the node's applied index, so replicas looked as if they had
// moved backwards. A read's header must agree with Status once the node is
// idle, and never claim less than the write it read.
func TestReads_HeaderCountsEntriesAfterLastCommand(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	ctx := ctxTimeout(t, time.Minute)
	put, err := kvpb.NewKVClient(dial(t, c.Endpoints()[leader])).Put(ctx, &kvpb.PutRequest{Key: []byte("k"), Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(leader)
	next := c.Leader(leaderWait)
	survivors := []int{next, 3 - leader - next}
	applied := func(i int) uint64 {
		st, err := kvpb.NewClusterClient(dial(t, c.Endpoints()[i])).Status(ctx, &kvpb.StatusRequest{})
		if err != nil {
			return 0
		}
		return st.GetAppliedIndex()
	}
	// The new leader's no-op and barrier come after the write.
	servertest.WaitFor(t, 10*time.Second, "survivors to apply past the write and agree", func() bool {
		a, b := applied(survivors[0]), applied(survivors[1])
		return a > put.GetIndex()+1 && a == b
	})
	for _, i := range survivors {
		kv := kvpb.NewKVClient(dial(t, c.Endpoints()[i]))
		got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("k"), Read: stale(0)})
		if err != nil {
			t.Fatal(err)
		}
		want := applied(i)
		if h := got.GetHeader().GetAppliedIndex(); h != want || got.GetKv().GetModIndex() != put.GetIndex() {
			t.Errorf("node %d: stale get header applied %d (mod index %d); Status applied %d, write at %d",
				i, h, got.GetKv().GetModIndex(), want, put.GetIndex())
		}
		list, err := kv.List(ctx, &kvpb.ListRequest{Read: stale(0)})
		if err != nil {
			t.Fatal(err)
		}
		if h := list.GetHeader().GetAppliedIndex(); h != want {
			t.Errorf("node %d: stale list header applied %d; Status applied %d", i, h, want)
		}
	}
}
