package client

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Limits of the requests a batcher gathers into one BatchRequest.
const (
	// maxCallBatchBytes caps the encoded calls of one BatchRequest; a call
	// larger than it goes alone (the largest valid request is ~2 MiB, under
	// gRPC's 4 MiB message limit).
	maxCallBatchBytes = 1 << 20
	// maxCallBatchCalls caps the calls of one BatchRequest.
	maxCallBatchCalls = 512
	// callQueue is how many calls may wait for the sender of one stream.
	callQueue = 1024
)

// batchable reports whether method may travel on a Batch stream (the
// server's rpc.batchMethods).
func batchable(method string) bool {
	switch method {
	case kvpb.KV_Get_FullMethodName, kvpb.KV_Put_FullMethodName,
		kvpb.KV_Delete_FullMethodName, kvpb.KV_CompareAndSwap_FullMethodName:
		return true
	}
	return false
}

// errBatchUnsupported is delivered to calls in flight on a stream the
// member refused as Unimplemented (a member from before Batch existed);
// they were never handled, and go again as unary calls.
var errBatchUnsupported = errors.New("member does not implement Batch")

// batcher is a grpc.ClientConnInterface for one member: Get, Put, Delete
// and CompareAndSwap calls made concurrently through it share one Batch
// stream, and the calls waiting when the stream's sender is free go out
// in one message, so their HTTP/2 framing, headers and system calls are
// paid once (TiKV's client batches its commands the same way). Each call
// keeps its own deadline, status and retry handling: the caller sees what
// the unary call would have returned. Every other method, and every call
// to a member that does not implement Batch, is a plain unary call on cc.
// Batching adds no wait: a call goes out at once when the sender is idle;
// calls gather only while a send is in progress.
type batcher struct {
	cc *grpc.ClientConn
	c  *Client // owner: background context and goroutines

	mu          sync.Mutex
	cur         *batchStream  // the open stream; nil when none
	opening     chan struct{} // closed when the open in progress ends; nil when none
	openErr     error         // the last open's failure, or how the last opened stream ended
	unsupported bool          // the member answered Batch with Unimplemented
}

// Invoke implements grpc.ClientConnInterface.
func (b *batcher) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if batchable(method) && !b.isUnsupported() {
		err := b.invokeBatched(ctx, method, args, reply, opts)
		if !errors.Is(err, errBatchUnsupported) {
			return err
		}
	}
	return b.cc.Invoke(ctx, method, args, reply, opts...)
}

// invokeBatched makes one call on the Batch stream. It returns
// errBatchUnsupported, with the call never handled, when the member does
// not implement Batch.
func (b *batcher) invokeBatched(ctx context.Context, method string, args, reply any, opts []grpc.CallOption) error {
	req, err := proto.Marshal(args.(proto.Message))
	if err != nil {
		return grpcstatus.Errorf(codes.Internal, "encode %s request: %v", method, err)
	}
	st, err := b.stream(ctx)
	if err != nil {
		return err
	}
	call := &batchCall{method: method, req: req, done: make(chan batchResult, 1)}
	if d, ok := ctx.Deadline(); ok {
		call.timeoutUs = max(time.Until(d).Microseconds(), 1)
	}
	if err := st.enqueue(ctx, call); err != nil {
		return err
	}
	// The call may reach the member from now on: tell a grpc.Peer option
	// (the retry loop's "sent" test) where it went.
	for _, o := range opts {
		if p, ok := o.(grpc.PeerCallOption); ok {
			*p.PeerAddr = st.peer
		}
	}
	select {
	case r := <-call.done:
		if r.err != nil {
			return r.err
		}
		if err := proto.Unmarshal(r.resp, reply.(proto.Message)); err != nil {
			return grpcstatus.Errorf(codes.Internal, "decode %s response: %v", method, err)
		}
		return nil
	case <-ctx.Done():
		st.forget(call.id)
		st.cancelCall(call.id)
		return grpcstatus.FromContextError(ctx.Err()).Err()
	}
}

// NewStream implements grpc.ClientConnInterface: streams are not batched.
func (b *batcher) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return b.cc.NewStream(ctx, desc, method, opts...)
}

func (b *batcher) isUnsupported() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unsupported
}

// stream returns the open Batch stream, opening one if there is none.
// Callers arriving during an open wait for it (or for ctx). The open runs
// under the client's background context, not ctx: the stream outlives the
// call that opened it.
func (b *batcher) stream(ctx context.Context) (*batchStream, error) {
	b.mu.Lock()
	if b.cur != nil {
		st := b.cur
		b.mu.Unlock()
		return st, nil
	}
	wait := b.opening
	if wait == nil {
		wait = make(chan struct{})
		b.opening = wait
		go b.open(wait)
	}
	b.mu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, grpcstatus.FromContextError(ctx.Err()).Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil {
		return b.cur, nil
	}
	if b.unsupported {
		return nil, errBatchUnsupported
	}
	if b.openErr == nil {
		// Not reachable while fail records every ended stream's error;
		// never hand out a nil stream.
		return nil, grpcstatus.Error(codes.Unavailable, "batch stream ended as it opened")
	}
	return nil, b.openErr
}

// open opens a stream and starts its sender and receiver, then closes
// done. gRPC fails the open at once when the member cannot be reached,
// and within DialTimeout when it is still connecting.
func (b *batcher) open(done chan struct{}) {
	defer close(done)
	sctx, cancel := context.WithCancel(b.c.bg)
	s, err := kvpb.NewKVClient(b.cc).Batch(sctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opening = nil
	if err != nil {
		cancel()
		b.openErr = err
		return
	}
	// The stream is bound to an established connection now; its peer is
	// what a grpc.Peer option of a call sent on it reports.
	p, ok := peer.FromContext(s.Context())
	if !ok || p.Addr == nil {
		p = &peer.Peer{Addr: memberAddr(b.cc.Target())}
	}
	st := &batchStream{b: b, s: s, cancel: cancel, peer: *p, queue: make(chan *batchCall, callQueue), cancels: make(chan uint64, callQueue), dead: make(chan struct{}), pending: make(map[uint64]*batchCall)}
	if !b.c.goBackground(st.send) {
		cancel()
		b.openErr = ErrClosed
		return
	}
	b.c.goBackground(st.receive)
	b.cur = st
}

// memberAddr is a member's address as a net.Addr.
type memberAddr string

func (a memberAddr) Network() string { return "tcp" }
func (a memberAddr) String() string  { return string(a) }

// batchCall is one call waiting on a stream.
type batchCall struct {
	id        uint64
	method    string
	req       []byte
	timeoutUs int64
	done      chan batchResult // buffered: one result
}

// batchResult is a call's answer: the encoded response or the error.
type batchResult struct {
	resp []byte
	err  error
}

// batchStream is one open Batch stream and its calls in flight.
type batchStream struct {
	b       *batcher
	s       kvpb.KV_BatchClient
	cancel  context.CancelFunc
	peer    peer.Peer
	queue   chan *batchCall
	cancels chan uint64   // ids of calls whose callers gave up, for the server to cancel
	dead    chan struct{} // closed by fail

	mu      sync.Mutex
	pending map[uint64]*batchCall // guarded by mu
	nextID  uint64                // guarded by mu
	err     error                 // guarded by mu: why the stream ended; nil while open
}

// enqueue registers call and hands it to the sender.
func (st *batchStream) enqueue(ctx context.Context, call *batchCall) error {
	st.mu.Lock()
	if st.err != nil {
		err := st.err
		st.mu.Unlock()
		return err
	}
	st.nextID++
	call.id = st.nextID
	st.pending[call.id] = call
	st.mu.Unlock()
	select {
	case st.queue <- call:
	case <-st.dead: // fail has delivered the stream's error to the call
	case <-ctx.Done(): // the queue is full and the caller gave up: nothing was sent
		st.forget(call.id)
		return grpcstatus.FromContextError(ctx.Err()).Err()
	}
	return nil
}

// forget drops a call whose caller stopped waiting.
func (st *batchStream) forget(id uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.pending, id)
}

// cancelCall asks the member to cancel call id, as gRPC cancels a unary
// call whose caller went away, so an abandoned call stops holding the
// member's resources (its admission slot among them). When the cancel
// queue is full it is dropped: the call still ends at its deadline.
func (st *batchStream) cancelCall(id uint64) {
	select {
	case st.cancels <- id:
	default:
	}
}

// take removes and returns a pending call, or nil.
func (st *batchStream) take(id uint64) *batchCall {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.pending[id]
	delete(st.pending, id)
	return c
}

// send writes the queued calls, gathering those already waiting into one
// message, until the stream fails.
func (st *batchStream) send(ctx context.Context) {
	for {
		msg := &kvpb.BatchRequest{}
		size := 0
		select {
		case call := <-st.queue:
			msg.Calls = append(msg.Calls, call.proto())
			size += len(call.req)
		case id := <-st.cancels:
			msg.Cancel = append(msg.Cancel, id)
		case <-ctx.Done():
			st.fail(ctx.Err())
			return
		}
		// Let the goroutines that are ready to run first: callers about to
		// make a call join this message instead of each paying for one.
		runtime.Gosched()
	gather:
		for len(msg.Calls) < maxCallBatchCalls && size < maxCallBatchBytes {
			select {
			case more := <-st.queue:
				msg.Calls = append(msg.Calls, more.proto())
				size += len(more.req)
			default:
				break gather
			}
		}
		// Cancels go after the calls: the member handles a message's calls
		// first, so a call and its cancel may share one.
	cancels:
		for len(msg.Cancel) < maxCallBatchCalls {
			select {
			case id := <-st.cancels:
				msg.Cancel = append(msg.Cancel, id)
			default:
				break cancels
			}
		}
		if err := st.s.Send(msg); err != nil {
			// Send reports io.EOF when the server ended the stream; the
			// receiver gets the status. Either way the stream is done.
			st.fail(err)
			return
		}
		if st.failed() {
			return
		}
	}
}

// receive delivers replies to their calls until the stream fails.
func (st *batchStream) receive(context.Context) {
	for {
		resp, err := st.s.Recv()
		if err != nil {
			st.fail(err)
			return
		}
		for _, r := range resp.GetReplies() {
			call := st.take(r.GetId())
			if call == nil {
				continue // its caller gave up
			}
			call.done <- replyResult(r)
		}
	}
}

// replyResult turns a reply into a call's result.
func replyResult(r *kvpb.BatchReply) batchResult {
	if len(r.GetStatus()) == 0 {
		return batchResult{resp: r.GetResponse()}
	}
	var sp status.Status
	if err := proto.Unmarshal(r.GetStatus(), &sp); err != nil {
		return batchResult{err: grpcstatus.Errorf(codes.Internal, "decode a batched call's status: %v", err)}
	}
	if sp.GetCode() == int32(codes.OK) {
		return batchResult{err: grpcstatus.Errorf(codes.Internal, "batched call failed with status OK: %s", sp.GetMessage())}
	}
	return batchResult{err: grpcstatus.FromProto(&sp).Err()}
}

func (st *batchStream) failed() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err != nil
}

// fail ends the stream: later calls open a new one, and every call still
// waiting gets the stream's failure. What a call then does follows from
// that error as from a unary call's: a member that stopped or became
// unreachable is Unavailable with no raftkv reason (a transport failure),
// and a write among them counts as possibly applied, since it was sent.
func (st *batchStream) fail(err error) {
	final := streamError(err)
	st.mu.Lock()
	if st.err != nil {
		st.mu.Unlock()
		return
	}
	st.err = final
	pending := st.pending
	st.pending = nil
	st.mu.Unlock()
	close(st.dead)
	st.cancel()

	b := st.b
	b.mu.Lock()
	if b.cur == st {
		b.cur = nil
		// A caller that waited for this stream to open and finds it gone
		// gets this failure (stream), before the call was sent.
		b.openErr = final
	}
	if errors.Is(final, errBatchUnsupported) {
		b.unsupported = true
	}
	b.mu.Unlock()
	for _, call := range pending {
		call.done <- batchResult{err: final}
	}
}

// streamError is the error a stream's failure gives its waiting calls.
func streamError(err error) error {
	if errors.Is(err, io.EOF) {
		return grpcstatus.Error(codes.Unavailable, "batch stream ended by the member")
	}
	st, ok := grpcstatus.FromError(err)
	if !ok {
		return grpcstatus.Errorf(codes.Unavailable, "batch stream failed: %v", err)
	}
	switch st.Code() {
	case codes.Unimplemented:
		return errBatchUnsupported
	case codes.OK:
		return grpcstatus.Error(codes.Unavailable, "batch stream ended by the member")
	}
	return err
}

func (c *batchCall) proto() *kvpb.BatchCall {
	return &kvpb.BatchCall{Id: c.id, Method: c.method, Request: c.req, TimeoutUs: c.timeoutUs}
}
