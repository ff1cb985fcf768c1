package raftnode

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// nodeTransport is the raft.Transport a Node hands raft: its network
// transport with two changes.
//   - With a parallelLog, followers are told a commit index no higher than
//     what the leader has on disk (parallelLog.DurableCap; see parallelLog).
//   - Pipelines are safePipelines, which cannot deadlock.
type nodeTransport struct {
	*raft.NetworkTransport
	log *parallelLog // nil: the log is written in line, nothing to cap
}

// capCommit caps a leader commit index about to be sent to a follower.
func (t nodeTransport) capCommit(commit uint64) uint64 {
	if t.log == nil {
		return commit
	}
	return t.log.DurableCap(commit)
}

// AppendEntries implements raft.Transport.
func (t nodeTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress,
	args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	args.LeaderCommitIndex = t.capCommit(args.LeaderCommitIndex)
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
}

// AppendEntriesPipeline implements raft.Transport.
func (t nodeTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	pl, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return newSafePipeline(pl, t.capCommit), nil
}

// safePipeline removes a deadlock from hashicorp/raft's (v1.7.3) pipeline
// replication, which would otherwise leave a follower without new entries
// until the leader changes, and the leader unable to shut down.
//
// raft stops reading a pipeline's answers (pipelineDecode returns) at the
// first one that failed: an I/O error, Success false, or a newer term. Its
// send loop notices only on its next turn, and may first pipeline another
// request. With MaxRPCsInFlight at its default of 2 the NetworkTransport
// pipeline's hand-offs are unbuffered, so a few such sends in, the sender
// waits for the answer reader, which waits for raft to take an answer;
// and only the sender closes the pipeline. The follower keeps getting
// heartbeats (they go on their own goroutine), so it never times out to
// force an election, but it gets no further entry, and the leader's
// Shutdown waits for the stuck goroutine forever. grafana/pyroscope#5518
// describes the same; we met it as a hung test in CI.
//
// safePipeline relays the answers to raft through its own goroutine,
// which looks at each: at the first failed one it closes the underlying
// pipeline, which releases a send waiting in it, and refuses every later
// send with ErrPipelineShutdown. raft's send loop then stops and falls
// back to ordinary replication, as after any pipeline failure.
type safePipeline struct {
	inner     raft.AppendPipeline
	capCommit func(uint64) uint64

	out     chan raft.AppendFuture // what raft's Consumer reads
	failed  atomic.Bool            // an answer failed: send no more
	stop    chan struct{}          // closed by Close
	stopped chan struct{}          // closed when relay has returned
	once    sync.Once
}

func newSafePipeline(inner raft.AppendPipeline, capCommit func(uint64) uint64) *safePipeline {
	p := &safePipeline{
		inner:     inner,
		capCommit: capCommit,
		out:       make(chan raft.AppendFuture),
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	go p.relay()
	return p
}

// relay hands the underlying pipeline's answers to raft, closing the
// pipeline at the first failed one.
func (p *safePipeline) relay() {
	defer close(p.stopped)
	in := p.inner.Consumer()
	for {
		var f raft.AppendFuture
		select {
		case f = <-in:
		case <-p.stop:
			return
		}
		// The future was answered before it was handed over, so Error
		// does not block.
		if err := f.Error(); err != nil || !f.Response().Success || f.Response().Term > f.Request().Term {
			p.failed.Store(true)
			_ = p.inner.Close()
		}
		select {
		case p.out <- f:
		case <-p.stop:
			return
		}
	}
}

// AppendEntries implements raft.AppendPipeline.
func (p *safePipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if p.failed.Load() {
		return nil, raft.ErrPipelineShutdown
	}
	args.LeaderCommitIndex = p.capCommit(args.LeaderCommitIndex)
	return p.inner.AppendEntries(args, resp)
}

// Consumer implements raft.AppendPipeline.
func (p *safePipeline) Consumer() <-chan raft.AppendFuture { return p.out }

// Close implements raft.AppendPipeline. It may be called more than once.
func (p *safePipeline) Close() error {
	p.once.Do(func() { close(p.stop) })
	err := p.inner.Close()
	<-p.stopped
	return err
}
