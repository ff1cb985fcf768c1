package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/server/servertest"
)

// retryCounter is a slog handler that counts the client's failed write
// attempts, to show that a test exercised the retry path.
type retryCounter struct {
	writes  atomic.Int64 // failed CompareAndSwap attempts
	unknown atomic.Int64 // of which the outcome was unknown (sent, or OUTCOME_UNKNOWN)
}

func (r *retryCounter) Enabled(context.Context, slog.Level) bool { return true }
func (r *retryCounter) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *retryCounter) WithGroup(string) slog.Handler            { return r }
func (r *retryCounter) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "attempt failed" {
		return nil
	}
	var cas, sent bool
	var code, reason string
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "method":
			cas = a.Value.String() == "CompareAndSwap"
		case "sent":
			sent = a.Value.Bool()
		case "code":
			code = a.Value.String()
		case "reason":
			reason = a.Value.String()
		}
		return true
	})
	if !cas {
		return nil
	}
	r.writes.Add(1)
	transport := reason == "" && (code == codes.Unavailable.String() || code == codes.DeadlineExceeded.String())
	if reason == rpc.ReasonOutcomeUnknown || (transport && sent) {
		r.unknown.Add(1)
	}
	return nil
}

// contentionBackoff pauses a compare-and-swap loop after it lost lost
// races in a row: a random wait of up to 8ms doubled per loss (capped at
// about 1s), the usual remedy for many writers contending for one key. It
// is workload shaping, not synchronisation: without it most of the 20
// writers lose every round and the test spends its time on doomed swaps
// (about 12 per increment without it, under 2 with it).
func contentionBackoff(ctx context.Context, lost int) error {
	if lost == 0 {
		return nil
	}
	t := time.NewTimer(rand.N(4 * time.Millisecond << min(lost, 8)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// TestCluster_CASCounterExactlyOnce is the exactly-once acceptance test:
// 20 clients each increment one counter 200 times through read and
// compare-and-swap loops while the leader is stopped three times, crash
// style (raft first, no leadership hand-off), so that swaps in flight lose
// their leader mid-commit. Every swap that was applied but whose
// answer was lost is retried under its request id; were it applied again,
// or reported as failed after it had been applied, the client would
// increment again and the counter would overshoot. It must end at exactly
// 4,000.
func TestCluster_CASCounterExactlyOnce(t *testing.T) {
	const (
		clients    = 20
		increments = 200
		total      = clients * increments
		faults     = 3
	)
	c := servertest.StartCluster(t, 3, nil)
	c.Leader(leaderWait)
	ctx := ctxTimeout(t, 4*time.Minute)
	seed := newClient(t, c.Endpoints()...)
	if _, err := seed.Put(ctx, "counter", []byte("0")); err != nil {
		t.Fatalf("seed: %v", err)
	}

	var (
		done     atomic.Int64 // increments completed
		attempts atomic.Int64 // compare-and-swap calls
		retries  retryCounter
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := range clients {
		cl, err := client.New(client.Config{
			Endpoints: c.Endpoints(), DialTimeout: time.Second, Logger: slog.New(&retries),
			// An election on a loaded 2-core machine running -race can
			// take longer than the default grace; this test is about
			// exactly-once, not about failing fast without a quorum.
			NoQuorumGrace: 20 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range increments {
				for lost := 0; ; lost++ {
					if err := contentionBackoff(ctx, lost); err != nil {
						t.Errorf("client %d: %v", w, err)
						return
					}
					got, err := cl.Get(ctx, "counter")
					if err != nil {
						t.Errorf("client %d, increment %d: get: %v", w, i, err)
						return
					}
					n, err := strconv.Atoi(string(got.KV.Value))
					if err != nil {
						t.Errorf("counter holds %q", got.KV.Value)
						return
					}
					attempts.Add(1)
					swapped, err := cl.CompareAndSwap(ctx, "counter", got.KV.Value, []byte(strconv.Itoa(n+1)))
					if err != nil {
						t.Errorf("client %d, increment %d: compare-and-swap: %v", w, i, err)
						return
					}
					if swapped {
						break
					}
				}
				done.Add(1)
			}
		}()
	}
	workers := make(chan struct{})
	go func() { wg.Wait(); close(workers) }()
	finished := func() bool {
		select {
		case <-workers:
			return true
		default:
			return false
		}
	}

	for k := range faults {
		// Stop the leader at 20%, 45% and 70% of the run, and let the new
		// leader make progress before the old one comes back.
		at := int64(total) * int64(20+25*k) / 100
		servertest.WaitFor(t, 2*time.Minute, fmt.Sprintf("%d increments", at), func() bool { return done.Load() >= at || finished() })
		if finished() {
			t.Fatalf("the workers finished before fault %d", k+1)
		}
		leader := c.Leader(leaderWait)
		before := done.Load()
		c.Crash(leader)
		servertest.WaitFor(t, time.Minute, "increments on the new leader", func() bool { return done.Load() >= before+100 || finished() })
		c.Start(leader)
		c.Leader(leaderWait)
		t.Logf("fault %d: stopped leader n%d at %d increments", k+1, leader+1, before)
	}
	select {
	case <-workers:
	case <-ctx.Done():
		t.Fatalf("workers did not finish: %d of %d increments", done.Load(), total)
	}
	if t.Failed() {
		return
	}
	elapsed := time.Since(start)

	got, err := seed.Get(ctx, "counter")
	if err != nil {
		t.Fatalf("final get: %v", err)
	}
	if string(got.KV.Value) != strconv.Itoa(total) {
		t.Fatalf("counter = %s after %d acknowledged increments, want exactly %d", got.KV.Value, done.Load(), total)
	}
	waitConverged(t, c, map[string]string{"counter": strconv.Itoa(total)})
	t.Logf("counter = %s in %v: %d compare-and-swaps for %d increments, %d failed attempts retried (%d of unknown outcome)",
		got.KV.Value, elapsed.Round(time.Millisecond), attempts.Load(), total, retries.writes.Load(), retries.unknown.Load())
}

// TestAPI_DuplicateWriteAppliedOnce sends writes twice under one request id
// through raw gRPC, as a client whose first answer was lost would: the
// repeat is answered with the original result and changes nothing on any
// replica, even when it carries another value or goes through a follower.
func TestAPI_DuplicateWriteAppliedOnce(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[leader]))
	viaFollower := kvpb.NewKVClient(dial(t, c.Endpoints()[follower]))
	ctx := ctxTimeout(t, 20*time.Second)
	id := func(seq, ack uint64) *kvpb.RequestID {
		return &kvpb.RequestID{ClientId: []byte("raw-client"), Seq: seq, MinUnackedSeq: ack}
	}

	first, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("dup"), Value: []byte("first"), RequestId: id(1, 1)})
	if err != nil || !first.GetSucceeded() {
		t.Fatalf("put: %v, %v", first, err)
	}
	for name, send := range map[string]kvpb.KVClient{"leader": kv, "follower": viaFollower} {
		again, err := send.Put(ctx, &kvpb.PutRequest{Key: []byte("dup"), Value: []byte("second"), RequestId: id(1, 1)})
		if err != nil {
			t.Fatalf("repeat via %s: %v", name, err)
		}
		if again.GetIndex() != first.GetIndex() || !again.GetSucceeded() {
			t.Fatalf("repeat via %s answered index %d, want the original %d", name, again.GetIndex(), first.GetIndex())
		}
	}
	// The repeats were new log entries that applied nothing.
	waitConverged(t, c, map[string]string{"dup": "first"})
	for i := range c.Size() {
		got, err := c.Node(i).Store().Get([]byte("dup"))
		if err != nil || got.ModIndex != first.GetIndex() || got.CreateIndex != first.GetIndex() {
			t.Fatalf("n%d holds %+v, %v; want mod index %d", i+1, got, err, first.GetIndex())
		}
		if applied := c.Node(i).Store().AppliedIndex(); applied <= first.GetIndex() {
			t.Fatalf("n%d applied index %d: the repeats never reached the log", i+1, applied)
		}
	}

	// A compare-and-swap repeated after the key moved on is answered with
	// its original success and does not swap again.
	cas := &kvpb.CompareAndSwapRequest{Key: []byte("dup"), ExpectedValue: []byte("first"), NewValue: []byte("swapped"), RequestId: id(2, 2)}
	swap, err := kv.CompareAndSwap(ctx, cas)
	if err != nil || !swap.GetSucceeded() {
		t.Fatalf("cas: %v, %v", swap, err)
	}
	if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("dup"), Value: []byte("first"), RequestId: id(3, 2)}); err != nil {
		t.Fatal(err)
	}
	again, err := kv.CompareAndSwap(ctx, cas)
	if err != nil || !again.GetSucceeded() || again.GetIndex() != swap.GetIndex() {
		t.Fatalf("repeated cas = %v, %v; want the original success at %d", again, err, swap.GetIndex())
	}
	get, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("dup")})
	if err != nil || string(get.GetKv().GetValue()) != "first" {
		t.Fatalf("dup = %v, %v; want first (the repeated cas must not swap again)", get, err)
	}

	// seq 3 acknowledged everything below seq 2: a late copy of seq 1 is
	// refused, not applied.
	_, err = kv.Put(ctx, &kvpb.PutRequest{Key: []byte("dup"), Value: []byte("late"), RequestId: id(1, 1)})
	if reason, _ := reasonOf(err); status.Code(err) != codes.FailedPrecondition || reason != rpc.ReasonRequestTooOld {
		t.Fatalf("late seq 1: %v (reason %q), want FAILED_PRECONDITION %s", err, reason, rpc.ReasonRequestTooOld)
	}
	// A request id the server would have to invent a session for, after
	// the client was answered under it, is refused too.
	_, err = kv.Put(ctx, &kvpb.PutRequest{Key: []byte("dup"), Value: []byte("late"),
		RequestId: &kvpb.RequestID{ClientId: []byte("evicted"), Seq: 5, SessionIndex: first.GetIndex()}})
	if reason, _ := reasonOf(err); status.Code(err) != codes.FailedPrecondition || reason != rpc.ReasonSessionExpired {
		t.Fatalf("unknown session: %v (reason %q), want FAILED_PRECONDITION %s", err, reason, rpc.ReasonSessionExpired)
	}
	if get, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("dup")}); err != nil || string(get.GetKv().GetValue()) != "first" {
		t.Fatalf("dup = %v, %v; a refused request was applied", get, err)
	}

	// Without a request id the old rule holds: each send is a new write.
	plain := &kvpb.PutRequest{Key: []byte("plain"), Value: []byte("v")}
	p1, err1 := kv.Put(ctx, plain)
	p2, err2 := kv.Put(ctx, plain)
	if err := errors.Join(err1, err2); err != nil || p1.GetIndex() == p2.GetIndex() {
		t.Fatalf("plain puts at %d and %d (%v): want two writes", p1.GetIndex(), p2.GetIndex(), err)
	}
}

// TestAPI_ConditionalWrites checks compare-and-swap and mod-index
// conditions end to end: a failed condition is an answer, not an error.
func TestAPI_ConditionalWrites(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	c.Leader(leaderWait)
	cl := newClient(t, c.Endpoints()...)
	ctx := ctxTimeout(t, 20*time.Second)

	created, err := cl.PutIf(ctx, "k", []byte("a"), 0)
	if err != nil || !created.Succeeded {
		t.Fatalf("create with PutIf(0) = %+v, %v", created, err)
	}
	again, err := cl.PutIf(ctx, "k", []byte("b"), 0)
	if err != nil || again.Succeeded || again.Current == nil || again.Current.ModIndex != created.Index || string(again.Current.Value) != "a" {
		t.Fatalf("second create = %+v, %v; want refused, reporting a at %d", again, err, created.Index)
	}
	updated, err := cl.PutIf(ctx, "k", []byte("b"), created.Index)
	if err != nil || !updated.Succeeded {
		t.Fatalf("update at the current mod index = %+v, %v", updated, err)
	}
	if swapped, err := cl.CompareAndSwap(ctx, "k", []byte("a"), []byte("c")); err != nil || swapped {
		t.Fatalf("cas from a stale value = %v, %v; want not swapped", swapped, err)
	}
	if swapped, err := cl.CompareAndSwap(ctx, "k", []byte("b"), []byte("")); err != nil || !swapped {
		t.Fatalf("cas from b = %v, %v; want swapped", swapped, err)
	}
	got, err := cl.Get(ctx, "k")
	if err != nil || got.KV.Value == nil || len(got.KV.Value) != 0 {
		t.Fatalf("get = %+v, %v; want an empty (non-nil) value", got, err)
	}
	// The empty value read back is a valid expectation; nil is not.
	if swapped, err := cl.CompareAndSwap(ctx, "k", nil, []byte("x")); err != nil || swapped {
		t.Fatalf("cas expecting no key = %v, %v; want not swapped", swapped, err)
	}
	if swapped, err := cl.CompareAndSwap(ctx, "k", got.KV.Value, []byte("d")); err != nil || !swapped {
		t.Fatalf("cas from the empty value = %v, %v; want swapped", swapped, err)
	}
	del, err := cl.DeleteIf(ctx, "k", updated.Index)
	if err != nil || del.Succeeded || del.Deleted {
		t.Fatalf("delete at a stale mod index = %+v, %v; want refused", del, err)
	}
	got, err = cl.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	del, err = cl.DeleteIf(ctx, "k", got.KV.ModIndex)
	if err != nil || !del.Succeeded || !del.Deleted {
		t.Fatalf("delete at the current mod index = %+v, %v", del, err)
	}
	if swapped, err := cl.CompareAndSwap(ctx, "k", nil, []byte("new")); err != nil || !swapped {
		t.Fatalf("cas creating the key = %v, %v", swapped, err)
	}
}
