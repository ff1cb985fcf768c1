package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
)

// batchCall encodes one call of a Batch stream.
func batchCall(t *testing.T, id uint64, method string, req proto.Message) *kvpb.BatchCall {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return &kvpb.BatchCall{Id: id, Method: method, Request: b}
}

// collectReplies receives until every id in want has its reply.
func collectReplies(t *testing.T, s kvpb.KV_BatchClient, n int) map[uint64]*kvpb.BatchReply {
	t.Helper()
	got := make(map[uint64]*kvpb.BatchReply)
	for len(got) < n {
		resp, err := s.Recv()
		if err != nil {
			t.Fatalf("batch stream ended after %d of %d replies: %v", len(got), n, err)
		}
		for _, r := range resp.GetReplies() {
			if _, dup := got[r.GetId()]; dup {
				t.Fatalf("call %d answered twice", r.GetId())
			}
			got[r.GetId()] = r
		}
	}
	return got
}

// replyStatus decodes a reply's status (OK when it has none).
func replyStatus(t *testing.T, r *kvpb.BatchReply) *status.Status {
	t.Helper()
	if len(r.GetStatus()) == 0 {
		return status.New(codes.OK, "")
	}
	var sp spb.Status
	if err := proto.Unmarshal(r.GetStatus(), &sp); err != nil {
		t.Fatalf("reply %d: status does not decode: %v", r.GetId(), err)
	}
	return status.FromProto(&sp)
}

// TestBatch_CallsAnsweredLikeUnary sends one Batch message through a
// follower (so writes and linearizable reads are forwarded) and checks
// that each call gets what the same unary call gets: the answers, and for
// bad input and missing keys the same code, message and details. Calls a
// stream cannot carry are refused one by one; the stream carries on.
func TestBatch_CallsAnsweredLikeUnary(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[follower]))
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("old"), Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	s, err := kv.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	longKey := make([]byte, 5000)
	calls := []*kvpb.BatchCall{
		batchCall(t, 1, kvpb.KV_Put_FullMethodName, &kvpb.PutRequest{Key: []byte("a"), Value: []byte("A")}),
		batchCall(t, 2, kvpb.KV_Get_FullMethodName, &kvpb.GetRequest{Key: []byte("old")}),
		batchCall(t, 3, kvpb.KV_Get_FullMethodName, &kvpb.GetRequest{Key: []byte("missing")}),
		batchCall(t, 4, kvpb.KV_Put_FullMethodName, &kvpb.PutRequest{Key: longKey}),
		batchCall(t, 5, kvpb.KV_Delete_FullMethodName, &kvpb.DeleteRequest{Key: []byte("old")}),
		batchCall(t, 6, kvpb.KV_CompareAndSwap_FullMethodName, &kvpb.CompareAndSwapRequest{Key: []byte("b"), NewValue: []byte("B")}),
		batchCall(t, 7, kvpb.KV_List_FullMethodName, &kvpb.ListRequest{}),
		{Id: 8, Method: kvpb.KV_Get_FullMethodName, Request: []byte{0xff, 0xff, 0xff}},
		batchCall(t, 9, kvpb.KV_Get_FullMethodName, &kvpb.GetRequest{Key: []byte("old"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency(99)}}),
	}
	if err := s.Send(&kvpb.BatchRequest{Calls: calls}); err != nil {
		t.Fatal(err)
	}
	got := collectReplies(t, s, len(calls))

	var put kvpb.PutResponse
	if st := replyStatus(t, got[1]); st.Code() != codes.OK || proto.Unmarshal(got[1].GetResponse(), &put) != nil || put.GetIndex() == 0 {
		t.Fatalf("batched put: status %v, response %v", st, &put)
	}
	if put.GetHeader().GetNodeId() != c.Node(leader).ID() {
		t.Errorf("batched put served by %q, want the leader %q (forwarded)", put.GetHeader().GetNodeId(), c.Node(leader).ID())
	}
	// Call 2 and 5 race (they run concurrently, as separate unary calls
	// would): the get sees the key or NOT_FOUND, nothing else.
	if st := replyStatus(t, got[2]); st.Code() != codes.OK && st.Code() != codes.NotFound {
		t.Errorf("batched get of old: %v", st)
	}
	var cas kvpb.CompareAndSwapResponse
	if st := replyStatus(t, got[6]); st.Code() != codes.OK || proto.Unmarshal(got[6].GetResponse(), &cas) != nil || !cas.GetSucceeded() {
		t.Errorf("batched create-if-absent: status %v, response %v", st, &cas)
	}
	var del kvpb.DeleteResponse
	if st := replyStatus(t, got[5]); st.Code() != codes.OK || proto.Unmarshal(got[5].GetResponse(), &del) != nil || !del.GetDeleted() {
		t.Errorf("batched delete: status %v, response %v", st, &del)
	}

	// Failures are the unary call's, code, message and details.
	_, missingErr := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("missing")})
	_, longErr := kv.Put(ctx, &kvpb.PutRequest{Key: longKey})
	_, levelErr := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("old"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency(99)}})
	for id, unary := range map[uint64]error{3: missingErr, 4: longErr, 9: levelErr} {
		want := status.Convert(unary)
		st := replyStatus(t, got[id])
		if want.Code() == codes.OK || st.Code() != want.Code() || st.Message() != want.Message() || !proto.Equal(st.Proto(), want.Proto()) {
			t.Errorf("call %d: batched status %v, unary %v: want the same", id, st.Proto(), want.Proto())
		}
	}
	if st := replyStatus(t, got[7]); st.Code() != codes.Unimplemented {
		t.Errorf("batched List: %v, want Unimplemented (a stream carries Get, Put, Delete and CompareAndSwap)", st)
	}
	if st := replyStatus(t, got[8]); st.Code() != codes.InvalidArgument {
		t.Errorf("undecodable request: %v, want InvalidArgument", st)
	}

	// The stream carries on after refusals.
	if err := s.Send(&kvpb.BatchRequest{Calls: []*kvpb.BatchCall{batchCall(t, 10, kvpb.KV_Get_FullMethodName, &kvpb.GetRequest{Key: []byte("a")})}}); err != nil {
		t.Fatal(err)
	}
	var get kvpb.GetResponse
	r := collectReplies(t, s, 1)[10]
	if st := replyStatus(t, r); st.Code() != codes.OK || proto.Unmarshal(r.GetResponse(), &get) != nil || string(get.GetKv().GetValue()) != "A" {
		t.Fatalf("get after the batched put: status %v, response %v", st, &get)
	}
	_ = s.CloseSend()
}

// TestBatch_AuthPerCall shows that a Batch stream is no way around auth:
// each call is checked against the stream's token for its own method.
func TestBatch_AuthPerCall(t *testing.T) {
	c, _ := startAuthCluster(t)
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[c.Leader(leaderWait)]))
	ctx := ctxTimeout(t, 30*time.Second)

	noToken, err := kv.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := noToken.Send(&kvpb.BatchRequest{Calls: []*kvpb.BatchCall{batchCall(t, 1, kvpb.KV_Get_FullMethodName, &kvpb.GetRequest{Key: []byte("k")})}}); err != nil {
		t.Fatal(err)
	}
	if st := replyStatus(t, collectReplies(t, noToken, 1)[1]); st.Code() != codes.Unauthenticated {
		t.Errorf("batched get without a token: %v, want Unauthenticated", st)
	}

	reader, err := kv.Batch(bearer(ctx, readToken))
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.Send(&kvpb.BatchRequest{Calls: []*kvpb.BatchCall{
		batchCall(t, 1, kvpb.KV_Put_FullMethodName, &kvpb.PutRequest{Key: []byte("k"), Value: []byte("v")}),
		batchCall(t, 2, kvpb.KV_Get_FullMethodName, &kvpb.GetRequest{Key: []byte("k")}),
	}}); err != nil {
		t.Fatal(err)
	}
	got := collectReplies(t, reader, 2)
	if st := replyStatus(t, got[1]); st.Code() != codes.PermissionDenied {
		t.Errorf("batched put with a read token: %v, want PermissionDenied", st)
	}
	if st := replyStatus(t, got[2]); st.Code() != codes.NotFound {
		t.Errorf("batched get with a read token: %v, want NotFound (allowed; the put was refused)", st)
	}
}

// TestBatch_ClientCallsCountedAndShared drives a Go client's concurrent
// calls, batched by default, against three nodes and checks the answers,
// that the calls went over Batch streams and were counted per method like
// unary calls, and that a client with DisableBatching uses none.
func TestBatch_ClientCallsCountedAndShared(t *testing.T) {
	regs := map[string]*prometheus.Registry{}
	var mu sync.Mutex
	c := servertest.StartCluster(t, 3, func(cfg *server.Config) {
		mu.Lock()
		defer mu.Unlock()
		cfg.Registry = prometheus.NewRegistry()
		regs[cfg.NodeID] = cfg.Registry
	})
	c.Leader(leaderWait)
	ctx := ctxTimeout(t, 60*time.Second)
	stats := func() (calls float64) {
		for _, reg := range regs {
			calls += counterSum(t, reg, "raftkv_batch_calls_received_total", nil)
		}
		return calls
	}
	// Summed over the nodes: if leadership moves during the run (a loaded
	// machine), the client sends the rest of its puts to the new leader.
	handled := func(method string) (n float64) {
		for _, reg := range regs {
			n += counterSum(t, reg, "raftkv_grpc_server_handled_total", map[string]string{"grpc_method": method, "grpc_code": "OK"})
		}
		return n
	}
	putsBefore := handled("Put")

	cl := newClient(t, c.Endpoints()...)
	const workers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("w%d-%d", w, i)
				if _, err := cl.Put(ctx, key, []byte(key)); err != nil {
					errs <- err
					return
				}
				got, err := cl.Get(ctx, key)
				if err != nil || string(got.KV.Value) != key {
					errs <- fmt.Errorf("get %s = %v, %v", key, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if calls := stats(); calls < 2*workers*each {
		t.Errorf("%v calls arrived on Batch streams, want at least the %d puts and gets", calls, 2*workers*each)
	}
	if puts := handled("Put") - putsBefore; puts < workers*each {
		t.Errorf("nodes counted %v puts, want at least %d: batched calls are counted per method", puts, workers*each)
	}
	var batchHandled float64
	for _, reg := range regs {
		batchHandled += counterSum(t, reg, "raftkv_grpc_server_handled_total", map[string]string{"grpc_method": "Batch"})
	}
	if n := batchHandled; n != 0 {
		t.Errorf("Batch streams counted as %v handled requests, want 0 (their calls are counted)", n)
	}

	before := stats()
	unary, err := client.New(client.Config{Endpoints: c.Endpoints(), DisableBatching: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unary.Close() })
	if _, err := unary.Put(ctx, "unary", []byte("u")); err != nil {
		t.Fatal(err)
	}
	if _, err := unary.Get(ctx, "unary"); err != nil {
		t.Fatal(err)
	}
	if after := stats(); after != before {
		t.Errorf("a client with DisableBatching sent %v calls on Batch streams", after-before)
	}
}

// TestBatch_StreamEndsWhenNodeStops shows that stopping a node ends its
// Batch streams with SHUTTING_DOWN, so clients go to another member, and
// that an open stream does not hold the node's shutdown up.
func TestBatch_StreamEndsWhenNodeStops(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[follower]))
	ctx := ctxTimeout(t, 30*time.Second)
	s, err := kv.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stale := &kvpb.GetRequest{Key: []byte("k"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}}
	if err := s.Send(&kvpb.BatchRequest{Calls: []*kvpb.BatchCall{batchCall(t, 1, kvpb.KV_Get_FullMethodName, stale)}}); err != nil {
		t.Fatal(err)
	}
	collectReplies(t, s, 1)
	stopped := make(chan struct{})
	go func() { c.Stop(follower); close(stopped) }()
	_, err = s.Recv()
	if reason, _ := reasonOf(err); status.Code(err) != codes.Unavailable || reason != rpc.ReasonShuttingDown {
		t.Fatalf("stream ended with %v, want Unavailable/%s", err, rpc.ReasonShuttingDown)
	}
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("node did not stop with a Batch stream open")
	}
}

// counterSum adds up the series of counter name in reg whose labels
// include every one of want.
func counterSum(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// TestBatch_CancelStopsACall shows that a cancel in a Batch stream ends a
// running call, as a unary call ends when its client goes away: a stale
// read waiting for an index the node will not reach for a second is
// answered CANCELLED at once instead of STALE after the wait.
func TestBatch_CancelStopsACall(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[c.Leader(leaderWait)]))
	ctx := ctxTimeout(t, 30*time.Second)
	s, err := kv.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waiting := &kvpb.GetRequest{Key: []byte("k"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE, MinIndex: 1 << 40}}
	if err := s.Send(&kvpb.BatchRequest{Calls: []*kvpb.BatchCall{batchCall(t, 1, kvpb.KV_Get_FullMethodName, waiting)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&kvpb.BatchRequest{Cancel: []uint64{1, 99}}); err != nil { // 99: unknown, ignored
		t.Fatal(err)
	}
	if st := replyStatus(t, collectReplies(t, s, 1)[1]); st.Code() != codes.Canceled {
		t.Fatalf("cancelled call answered %v, want Canceled", st)
	}
	// The stream goes on.
	if err := s.Send(&kvpb.BatchRequest{Calls: []*kvpb.BatchCall{batchCall(t, 2, kvpb.KV_Put_FullMethodName, &kvpb.PutRequest{Key: []byte("k"), Value: []byte("v")})}}); err != nil {
		t.Fatal(err)
	}
	if st := replyStatus(t, collectReplies(t, s, 1)[2]); st.Code() != codes.OK {
		t.Fatalf("put after a cancel: %v", st)
	}
}
