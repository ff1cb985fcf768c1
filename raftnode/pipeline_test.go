package raftnode

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// answerAll answers every RPC that reaches trans with resp until the test
// ends.
func answerAll(t *testing.T, trans *raft.NetworkTransport, resp func() *raft.AppendEntriesResponse) {
	done := make(chan struct{})
	exited := make(chan struct{})
	t.Cleanup(func() { close(done); <-exited })
	go func() {
		defer close(exited)
		for {
			select {
			case rpc := <-trans.Consumer():
				rpc.Respond(resp(), nil)
			case <-done:
				return
			}
		}
	}()
}

// TestPipeline_FailedAnswerDoesNotDeadlock drives a real pipeline the way
// hashicorp/raft's pipeline replication does: it stops reading answers at
// the first one that failed (here a follower's Success=false, as after a
// log mismatch or a failed log write) and may still send a few more
// requests before it notices. Over raft's own NetworkTransport pipeline
// (two requests in flight, unbuffered hand-offs) the third such send
// blocked forever: the answer reader waited for raft to take an answer,
// and the send waited for the answer reader. Every send must return, and
// after the failed answer the pipeline must refuse to send, so that raft
// falls back to ordinary replication.
func TestPipeline_FailedAnswerDoesNotDeadlock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer raft.AppendEntriesResponse
	}{
		{"refused", raft.AppendEntriesResponse{Term: 1, Success: false}},
		// A follower that has seen a newer term, as during an election
		// or a leadership hand-off.
		{"newer term", raft.AppendEntriesResponse{Term: 2, Success: false}},
	} {
		t.Run(tc.name, func(t *testing.T) { testFailedAnswer(t, tc.answer) })
	}
}

// openPipeline starts a follower and a leader transport on loopback and
// opens a pipeline from the leader to the follower as a Node's raft would;
// all three are closed when the test ends.
func openPipeline(t *testing.T) (follower, leader *raft.NetworkTransport, pl raft.AppendPipeline) {
	t.Helper()
	var err error
	for _, tr := range []**raft.NetworkTransport{&follower, &leader} {
		if *tr, err = raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = (*tr).Close() })
	}
	trans := nodeTransport{NetworkTransport: leader}
	if pl, err = trans.AppendEntriesPipeline("f", follower.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pl.Close() })
	return follower, leader, pl
}

func testFailedAnswer(t *testing.T, answer raft.AppendEntriesResponse) {
	follower, leader, pl := openPipeline(t)
	answerAll(t, follower, func() *raft.AppendEntriesResponse {
		a := answer
		return &a
	})

	send := func(i uint64) (raft.AppendFuture, error) {
		req := &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ID: []byte("l"), Addr: []byte(leader.LocalAddr())},
			Term:      1, PrevLogEntry: i - 1, PrevLogTerm: 1, LeaderCommitIndex: i - 1,
			Entries: []*raft.Log{{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("x")}},
		}
		return pl.AppendEntries(req, new(raft.AppendEntriesResponse))
	}

	if _, err := send(1); err != nil {
		t.Fatalf("first send: %v", err)
	}
	select {
	case f := <-pl.Consumer():
		if f.Error() != nil || f.Response().Success {
			t.Fatalf("first answer: err %v, success %v; want a refusal", f.Error(), f.Response().Success)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the first request within 10s")
	}
	// raft now stops reading the consumer and, racing, sends more.
	var refused bool
	for i := uint64(2); i <= 6; i++ {
		done := make(chan error, 1)
		go func() { _, err := send(i); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				refused = true
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("send %d after a failed answer still blocked after 10s: the pipeline deadlocked", i)
		}
	}
	if !refused {
		t.Fatal("the pipeline kept sending after a failed answer; want it to refuse so raft falls back")
	}
}

// TestPipeline_ErrorAnswerClosesPipeline: an answer that failed on the
// wire (the follower's connection went away) also stops the pipeline.
func TestPipeline_ErrorAnswerClosesPipeline(t *testing.T) {
	follower, _, pl := openPipeline(t)
	// The follower takes the request and goes away without answering.
	go func() {
		<-follower.Consumer()
		_ = follower.Close()
		follower.CloseStreams()
	}()
	req := &raft.AppendEntriesRequest{Term: 1, Entries: []*raft.Log{{Index: 1, Term: 1}}}
	if _, err := pl.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
		t.Fatalf("send: %v", err)
	}
	select {
	case f := <-pl.Consumer():
		if f.Error() == nil {
			t.Fatal("answer from a follower that went away has no error")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no answer within 15s")
	}
	_, err := pl.AppendEntries(&raft.AppendEntriesRequest{Term: 1}, new(raft.AppendEntriesResponse))
	if !errors.Is(err, raft.ErrPipelineShutdown) {
		t.Fatalf("send after a failed answer: %v, want ErrPipelineShutdown", err)
	}
}
