package client

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestBatch_StreamEndedWhileAwaitedIsNotHandedOut covers a caller that
// waits for another call's stream open, where the opened stream fails
// before the waiter looks at it: the waiter must get that failure (before
// its call is sent, so the retry loop may resend it), never a nil stream
// with no error, which made it panic.
func TestBatch_StreamEndedWhileAwaitedIsNotHandedOut(t *testing.T) {
	b := &batcher{}
	opening := make(chan struct{})
	b.opening = opening
	// The open succeeds and its stream ends before the waiter wakes.
	st := &batchStream{b: b, cancel: func() {}, dead: make(chan struct{}), pending: map[uint64]*batchCall{}}
	b.cur = st
	st.fail(io.EOF)

	got := make(chan error, 1)
	go func() {
		s, err := b.stream(context.Background())
		if s != nil {
			t.Errorf("stream() handed out a stream after it failed")
		}
		got <- err
	}()
	close(opening)
	err := <-got
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stream() = %v, want Unavailable", err)
	}
}
