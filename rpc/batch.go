package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/raftnode"
)

// Limits of one Batch stream.
const (
	// MaxBatchInflight is how many calls of one Batch stream the server
	// handles at once; the stream is not read further until one finishes,
	// so a client that sends faster is held back by HTTP/2 flow control.
	// Node-wide admission (MaxInflightWrites, MaxInflightReads) still
	// applies to every call.
	MaxBatchInflight = 4096
	// maxReplyBatchBytes caps the encoded replies gathered into one
	// BatchResponse; a reply larger than it goes alone (a Get of a 1 MiB
	// value stays far below gRPC's 4 MiB message limit).
	maxReplyBatchBytes = 1 << 20
	// maxReplyBatchCalls caps the replies in one BatchResponse.
	maxReplyBatchCalls = 512
	// batchWorkers is how many goroutines a node keeps for running the
	// calls of Batch streams (workerPool), as many as gRPC's stream
	// workers for unary calls (server.grpcStreamWorkers).
	batchWorkers = 64
)

// batchMethod is one unary KV method a Batch stream may carry.
type batchMethod struct {
	fullMethod string
	handler    grpc.MethodHandler
}

// batchMethods are the KV methods a Batch stream carries, by full method
// name, taken from the generated service description so that a batched
// call decodes and dispatches exactly as the unary one. List is left out:
// its answers run to megabytes, which would hold up the small answers
// sharing its stream.
var batchMethods = func() map[string]batchMethod {
	out := make(map[string]batchMethod)
	for _, m := range kvpb.KV_ServiceDesc.Methods {
		full := "/" + kvpb.KV_ServiceDesc.ServiceName + "/" + m.MethodName
		switch full {
		case kvpb.KV_Get_FullMethodName, kvpb.KV_Put_FullMethodName,
			kvpb.KV_Delete_FullMethodName, kvpb.KV_CompareAndSwap_FullMethodName:
			out[full] = batchMethod{fullMethod: full, handler: m.Handler}
		}
	}
	return out
}()

// BatchStats counts the Batch streams a node has served.
type BatchStats struct {
	// Streams is how many are open now.
	Streams int64
	// Messages is how many BatchRequests they have received.
	Messages uint64
	// Calls is how many calls those carried.
	Calls uint64
}

// batchCounters holds BatchStats.
type batchCounters struct {
	streams  atomic.Int64
	messages atomic.Uint64
	calls    atomic.Uint64
}

// BatchStats reports the Batch streams served so far.
func (s *Server) BatchStats() BatchStats {
	return BatchStats{Streams: s.batchCount.streams.Load(), Messages: s.batchCount.messages.Load(), Calls: s.batchCount.calls.Load()}
}

// SetCallObserver installs an interceptor that every call carried by a
// Batch stream runs through, outermost, as gRPC runs the interceptor of
// grpc.UnaryInterceptor for unary calls: the node's metrics, so batched
// calls are counted per method like unary ones. Call it before serving.
func (s *Server) SetCallObserver(i grpc.UnaryServerInterceptor) {
	s.observer = i
}

// Batch implements kvpb.KVServer: it runs each call of the stream through
// the unary path (the observer, unaryInterceptor, then the method's
// handler) in its own goroutine, and sends the replies as they finish,
// gathering those that are ready into one message. When the node stops
// (Close) the stream ends with SHUTTING_DOWN once the calls it already
// started have been answered.
func (s *Server) Batch(stream kvpb.KV_BatchServer) error {
	ctx := stream.Context()
	s.batchCount.streams.Add(1)
	defer s.batchCount.streams.Add(-1)

	replies := make(chan *kvpb.BatchReply, 64)
	sent := make(chan error, 1)
	go func() { sent <- sendReplies(stream, replies) }()

	var (
		inflight batchInflight
		running  batchRunning
		slots    = make(chan struct{}, MaxBatchInflight)
		stop     = make(chan struct{}) // closed when the stream takes no more calls
		recvErr  = make(chan error, 1)
	)
	// The receiving goroutine hands each call straight to a worker: one
	// goroutine hand-off per call, not two.
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			s.batchCount.messages.Add(1)
			s.batchCount.calls.Add(uint64(len(req.GetCalls())))
			for _, c := range req.GetCalls() {
				// The call's context is made and registered here, before
				// the next message is read, so a cancel in it finds the call.
				w := batchWork{call: c}
				if us := c.GetTimeoutUs(); us > 0 {
					w.ctx, w.cancel = context.WithTimeout(ctx, time.Duration(us)*time.Microsecond)
				} else {
					w.ctx, w.cancel = context.WithCancel(ctx)
				}
				inflight.add(c.GetId(), w.cancel)
				select {
				case slots <- struct{}{}:
				case <-stop:
					w.cancel()
					return
				case <-ctx.Done():
					w.cancel()
					recvErr <- ctx.Err()
					return
				}
				if !running.add() {
					w.cancel()
					return
				}
				s.batchPool.run(func() {
					defer running.done()
					r := s.runBatched(w.ctx, w.call)
					inflight.finish(w.call.GetId())
					replies <- r
					<-slots
				})
			}
			for _, id := range req.GetCancel() {
				inflight.cancel(id)
			}
		}
	}()

	var end error
	select {
	case err := <-recvErr:
		if !errors.Is(err, io.EOF) {
			end = err
		}
	case <-s.done:
		st, _ := toStatus(fmt.Errorf("batch stream: %w", raftnode.ErrShutdown), string(s.node.ID()), s.leaderAddr)
		end = st
	}
	close(stop)
	running.closeAndWait()
	close(replies)
	if err := <-sent; err != nil && end == nil {
		end = err
	}
	return end
}

// batchRunning counts a stream's running calls and, once the stream has
// ended, refuses to start more, so that waiting for them cannot race with
// a call being started.
type batchRunning struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// add records a call about to start; false once closeAndWait has begun.
func (r *batchRunning) add() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	return true
}

// done records that a call finished.
func (r *batchRunning) done() { r.wg.Done() }

// closeAndWait refuses further calls and waits for the running ones.
func (r *batchRunning) closeAndWait() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
}

// workerPool runs functions on goroutines it keeps, as gRPC's
// NumStreamWorkers does for unary calls: a new goroutine's stack starts
// small and is grown and copied as a call goes deep (bbolt, protobuf),
// which cost ~12% of a node's CPU under batched reads; a kept worker keeps
// its grown stack. Up to size workers wait for work; an idle one exits
// after workerIdle, and every one when done is closed.
type workerPool struct {
	size    int32
	work    chan func() // unbuffered: a send succeeds only into an idle worker
	done    <-chan struct{}
	workers atomic.Int32
}

// workerIdle is how long an idle worker waits for work before it exits.
const workerIdle = 30 * time.Second

func newWorkerPool(size int, done <-chan struct{}) *workerPool {
	return &workerPool{size: int32(size), work: make(chan func()), done: done}
}

// run runs fn on an idle worker, on a new worker if there are fewer than
// size, or else on a goroutine of its own.
func (p *workerPool) run(fn func()) {
	select {
	case p.work <- fn:
		return
	default:
	}
	if p.workers.Add(1) > p.size {
		p.workers.Add(-1)
		go fn()
		return
	}
	go p.worker(fn)
}

func (p *workerPool) worker(fn func()) {
	defer p.workers.Add(-1)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(workerIdle)
		select {
		case fn = <-p.work:
		case <-idle.C:
			return
		case <-p.done:
			return
		}
	}
}

// sendReplies sends the replies as they come, each message carrying every
// reply already waiting (up to the caps), until replies is closed. After a
// failed send it keeps draining replies, so no call's goroutine is left
// blocked, and returns the failure.
func sendReplies(stream kvpb.KV_BatchServer, replies <-chan *kvpb.BatchReply) error {
	var failed error
	for r := range replies {
		if failed != nil {
			continue
		}
		msg := &kvpb.BatchResponse{Replies: []*kvpb.BatchReply{r}}
		size := len(r.Response) + len(r.Status)
		// Let the calls that are ready to run finish first, so their
		// replies join this message.
		runtime.Gosched()
	gather:
		for len(msg.Replies) < maxReplyBatchCalls && size < maxReplyBatchBytes {
			select {
			case more, ok := <-replies:
				if !ok {
					break gather
				}
				msg.Replies = append(msg.Replies, more)
				size += len(more.Response) + len(more.Status)
			default:
				break gather
			}
		}
		if err := stream.Send(msg); err != nil {
			failed = err
		}
	}
	return failed
}

// batchWork is one received call with its context, which ends at the
// call's deadline or when the client cancels it.
type batchWork struct {
	call   *kvpb.BatchCall
	ctx    context.Context
	cancel context.CancelFunc
}

// batchInflight maps the ids of a stream's running calls to their cancel
// functions, for the client's cancels.
type batchInflight struct {
	mu sync.Mutex
	m  map[uint64]context.CancelFunc
}

func (b *batchInflight) add(id uint64, cancel context.CancelFunc) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[uint64]context.CancelFunc)
	}
	b.m[id] = cancel
}

// cancel cancels call id if it is still running.
func (b *batchInflight) cancel(id uint64) {
	b.mu.Lock()
	cancel := b.m[id]
	b.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// finish forgets call id and releases its context.
func (b *batchInflight) finish(id uint64) {
	b.mu.Lock()
	cancel := b.m[id]
	delete(b.m, id)
	b.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// runBatched handles one call of a Batch stream as its unary method would
// be handled, and encodes the answer.
func (s *Server) runBatched(ctx context.Context, c *kvpb.BatchCall) *kvpb.BatchReply {
	reply := &kvpb.BatchReply{Id: c.GetId()}
	m, ok := batchMethods[c.GetMethod()]
	if !ok {
		reply.Status = encodeStatus(status.Newf(codes.Unimplemented,
			"method %q cannot be batched: a Batch stream carries /kv.v1.KV/Get, Put, Delete and CompareAndSwap", c.GetMethod()))
		return reply
	}
	decode := func(v any) error {
		if err := proto.Unmarshal(c.GetRequest(), v.(proto.Message)); err != nil {
			return status.Errorf(codes.InvalidArgument, "%s: the request does not decode: %v", m.fullMethod, err)
		}
		return nil
	}
	resp, err := m.handler(s, ctx, decode, s.batchInterceptor)
	if err != nil {
		reply.Status = encodeStatus(status.Convert(err))
		return reply
	}
	b, err := proto.Marshal(resp.(proto.Message))
	if err != nil {
		reply.Status = encodeStatus(status.Newf(codes.Internal, "%s: encode the response: %v", m.fullMethod, err))
		return reply
	}
	reply.Response = b
	return reply
}

// batchInterceptor is the interceptor chain of a batched call: the
// observer (if any) around unaryInterceptor.
func (s *Server) batchInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.observer == nil {
		return s.unaryInterceptor(ctx, req, info, handler)
	}
	return s.observer(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return s.unaryInterceptor(ctx, req, info, handler)
	})
}

// encodeStatus encodes st as a google.rpc.Status for a BatchReply.
func encodeStatus(st *status.Status) []byte {
	b, err := proto.Marshal(st.Proto())
	if err != nil {
		// A status is a code, a string and details this package built;
		// failing to encode one is a bug. Keep the code and message.
		b, _ = proto.Marshal(status.New(st.Code(), st.Message()).Proto())
	}
	return b
}
