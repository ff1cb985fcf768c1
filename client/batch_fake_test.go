package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Batch implements kvpb.KVServer for the fake as the real server does
// (rpc.Server.Batch), minus admission and metrics: every call runs through
// the fake's unary method, concurrently, and its answer or status goes
// back in a reply. So every scripted outcome of the client tests reaches
// the client through the Batch stream, as it does from a real node.
func (n *fakeNode) Batch(stream kvpb.KV_BatchServer) error {
	if n.noBatch.Load() {
		return status.Error(codes.Unimplemented, "method Batch not implemented")
	}
	handlers := make(map[string]func(context.Context, func(any) error) (any, error))
	for _, m := range kvpb.KV_ServiceDesc.Methods {
		h := m.Handler
		handlers["/"+kvpb.KV_ServiceDesc.ServiceName+"/"+m.MethodName] = func(ctx context.Context, dec func(any) error) (any, error) {
			return h(n, ctx, dec, nil)
		}
	}
	var (
		wg       sync.WaitGroup
		sendMu   sync.Mutex
		cancelMu sync.Mutex
		cancels  = make(map[uint64]context.CancelFunc)
	)
	defer wg.Wait()
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		for _, c := range req.GetCalls() {
			n.batched.Add(1)
			var (
				ctx    context.Context
				cancel context.CancelFunc
			)
			if us := c.GetTimeoutUs(); us > 0 {
				ctx, cancel = context.WithTimeout(stream.Context(), time.Duration(us)*time.Microsecond)
			} else {
				ctx, cancel = context.WithCancel(stream.Context())
			}
			cancelMu.Lock()
			cancels[c.GetId()] = cancel
			cancelMu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				reply := &kvpb.BatchReply{Id: c.GetId()}
				resp, err := handlers[c.GetMethod()](ctx, func(v any) error { return proto.Unmarshal(c.GetRequest(), v.(proto.Message)) })
				if err == nil {
					reply.Response, err = proto.Marshal(resp.(proto.Message))
				}
				if err != nil {
					reply.Status, _ = proto.Marshal(status.Convert(err).Proto())
				}
				sendMu.Lock()
				defer sendMu.Unlock()
				_ = stream.Send(&kvpb.BatchResponse{Replies: []*kvpb.BatchReply{reply}})
			}()
		}
		for _, id := range req.GetCancel() {
			cancelMu.Lock()
			cancel := cancels[id]
			cancelMu.Unlock()
			if cancel != nil {
				cancel()
			}
		}
	}
}

// TestBatch_CallsTravelOnTheStream shows that Get, Put, Delete and
// CompareAndSwap go over the Batch stream by default, and that
// DisableBatching sends them as unary calls.
func TestBatch_CallsTravelOnTheStream(t *testing.T) {
	for _, disable := range []bool{false, true} {
		n := startFake(t, "n1")
		c := newTestClientConfig(t, Config{Endpoints: []string{n.addr}, DisableBatching: disable})
		ctx := testCtx(t)
		if _, err := c.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CompareAndSwap(ctx, "k", nil, []byte("w")); err != nil {
			t.Fatal(err)
		}
		want := int64(4)
		if disable {
			want = 0
		}
		if got := n.batched.Load(); got != want {
			t.Errorf("DisableBatching=%v: %d calls on the Batch stream, want %d", disable, got, want)
		}
	}
}

// TestBatch_FallsBackToUnary shows that a member without Batch (an older
// server) still gets every call, as unary calls, and the client stops
// trying the stream there.
func TestBatch_FallsBackToUnary(t *testing.T) {
	n := startFake(t, "n1")
	n.noBatch.Store(true)
	c := newTestClient(t, n.addr)
	ctx := testCtx(t)
	for range 3 {
		if _, err := c.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatalf("put to a member without Batch: %v", err)
		}
		if _, err := c.Get(ctx, "k", WithConsistency(Stale)); err != nil {
			t.Fatalf("stale get from a member without Batch: %v", err)
		}
	}
	if got := n.count("Put"); got != 3 {
		t.Fatalf("member handled %d puts, want 3", got)
	}
	b, err := c.caller(n.addr)
	if err != nil {
		t.Fatal(err)
	}
	if !b.(*batcher).isUnsupported() {
		t.Fatal("batcher still tries the Batch stream on a member that refused it")
	}
}

// TestBatch_StreamLossFailsOver shows that calls waiting on a stream that
// breaks are answered with the failure of an unreachable member, so the
// client retries them elsewhere: a write is retried under its request id
// and applied once.
func TestBatch_StreamLossFailsOver(t *testing.T) {
	nodes := startCluster(t, 2)
	a, b := nodes[0], nodes[1]
	// a hangs every put until the stream breaks; then b leads.
	entered := make(chan struct{}, 1)
	a.script("Put", func(ctx context.Context, _ int) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	})
	c := newTestClient(t, a.addr, b.addr)
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Put(ctx, "k", []byte("v"))
		done <- err
	}()
	<-entered
	a.setLeader(b.addr)
	b.setLeader(b.addr)
	a.srv.Stop() // breaks the stream with the put in flight
	if err := <-done; err != nil {
		t.Fatalf("put across a broken stream: %v", err)
	}
	if got := b.count("Put"); got != 1 {
		t.Fatalf("new leader handled %d puts, want 1", got)
	}
	ids := append(a.requestIDs("Put"), b.requestIDs("Put")...)
	if len(ids) != 2 || !proto.Equal(ids[0], ids[1]) {
		t.Fatalf("request ids of the two attempts = %v, want the same id twice", ids)
	}
}

// TestBatch_CallerCancelReachesMember shows that a caller who gives up on a
// batched call has it cancelled on the member too, as a unary call's
// cancellation would: the member's handler sees its context end long
// before the call's own deadline.
func TestBatch_CallerCancelReachesMember(t *testing.T) {
	n := startFake(t, "n1")
	entered, ended := make(chan struct{}), make(chan error, 1)
	n.script("Get", func(ctx context.Context, _ int) error {
		close(entered)
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	})
	c := newTestClient(t, n.addr)
	ctx, cancel := context.WithTimeout(testCtx(t), time.Minute)
	defer cancel()
	callCtx, callCancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(callCtx, "k", WithConsistency(Stale))
		done <- err
	}()
	<-entered
	callCancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Get = %v, want context.Canceled", err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("member's call context ended with %v, want Canceled", err)
		}
	case <-ctx.Done():
		t.Fatal("the member's call was not cancelled")
	}
}
