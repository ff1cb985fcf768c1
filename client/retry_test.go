package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestDecide(t *testing.T) {
	hint := failure{target: "a:1", code: codes.FailedPrecondition, reason: reasonNotLeader, leaderAddr: "b:1"}
	selfHint := hint
	selfHint.leaderAddr = "a:1"
	noAddr := hint
	noAddr.leaderAddr = ""
	unavail := func(reason string) failure {
		return failure{target: "a:1", code: codes.Unavailable, reason: reason}
	}
	// Every write the client sends carries a request id, so reads and
	// writes follow one table; whether a final error wraps
	// ErrOutcomeUnknown is decided by toError (TestFailure_ToError) and
	// invoke.
	tests := []struct {
		name string
		f    failure
		want action
	}{
		{"not leader follows hint", hint, actRedirect},
		{"not leader hint to itself", selfHint, actBackoff},
		{"not leader without address", noAddr, actBackoff},
		{"no leader", unavail(reasonNoLeader), actBackoff},
		{"not proposed", unavail(reasonNotProposed), actBackoff},
		{"shutting down", unavail(reasonShuttingDown), actNext},
		{"outcome unknown is retried under the same request id", unavail(reasonOutcomeUnknown), actBackoff},
		{"unknown reason", unavail("NEW"), actBackoff},
		{"no quorum", unavail(reasonNoQuorum), actNext},
		{"transport failure, sent or not", unavail(""), actNext},
		{"server deadline", failure{code: codes.DeadlineExceeded}, actBackoff},
		{"request too old", failure{code: codes.FailedPrecondition, reason: reasonRequestTooOld}, actReturn},
		{"session expired", failure{code: codes.FailedPrecondition, reason: reasonSessionExpired}, actReturn},
		{"other failed precondition", failure{code: codes.FailedPrecondition}, actReturn},
		{"canceled", failure{code: codes.Canceled}, actReturn},
		{"not found", failure{code: codes.NotFound}, actReturn},
		{"invalid argument", failure{code: codes.InvalidArgument}, actReturn},
		{"internal", failure{code: codes.Internal}, actReturn},
		{"overloaded backs off", failure{code: codes.ResourceExhausted, reason: reasonOverloaded}, actBackoff},
		{"other resource exhausted", failure{code: codes.ResourceExhausted}, actReturn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.f); got != tt.want {
				t.Errorf("decide = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPause_GrowsAndStopsAtDeadline(t *testing.T) {
	c := &Client{cfg: Config{BackoffBase: time.Millisecond, BackoffMax: time.Hour}.withDefaults()}
	n := 0
	for range 3 {
		if err := c.pause(t.Context(), &n); err != nil {
			t.Fatalf("pause: %v", err)
		}
	}
	if n != 3 {
		t.Errorf("pause count = %d, want 3", n)
	}
	// A pause longer than the deadline ends with the deadline.
	n = 40
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := c.pause(ctx, &n); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("pause past deadline = %v, want DeadlineExceeded", err)
	}
}

func TestClassify_OverloadedRetryHint(t *testing.T) {
	st := status.New(codes.ResourceExhausted, "node overloaded")
	st, err := st.WithDetails(
		&errdetails.ErrorInfo{Reason: reasonOverloaded, Domain: errorDomain},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(80 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	f := classify("a:1", st.Err())
	if f.reason != reasonOverloaded || f.retryAfter != 80*time.Millisecond {
		t.Fatalf("classify = reason %q retryAfter %v", f.reason, f.retryAfter)
	}
	ferr := f.toError(true, true)
	if !errors.Is(ferr, ErrOverloaded) || !errors.Is(ferr, ErrUnavailable) || errors.Is(ferr, ErrOutcomeUnknown) {
		t.Errorf("toError = %v; want ErrOverloaded and ErrUnavailable, not ErrOutcomeUnknown", ferr)
	}
	// An absurd hint is ignored rather than obeyed.
	st2, _ := status.New(codes.ResourceExhausted, "x").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Hour)})
	if f := classify("a:1", st2.Err()); f.retryAfter != 0 {
		t.Errorf("retryAfter = %v for a 1h hint, want 0 (ignored)", f.retryAfter)
	}
}

func TestPauseAtLeast_HonoursHint(t *testing.T) {
	c := &Client{cfg: Config{BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}.withDefaults()}
	n := 0
	// The hint (an hour) is longer than the deadline: the pause must wait
	// for it, so the deadline ends it.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := c.pauseAtLeast(ctx, &n, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("pauseAtLeast = %v, want DeadlineExceeded", err)
	}
}

// TestClient_OverloadRetriesAreThrottled: a client whose writes keep being
// refused with OVERLOADED first retries them (a brief overload passes
// unnoticed), then, once most recent calls were refused, stops resending
// and fails each call after one attempt with ErrOverloaded, so that it
// does not multiply the load on a node shedding it. Successes restore the
// retries.
func TestClient_OverloadRetriesAreThrottled(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClient(t, n.addr)
	n.script("Put", failFirst(1, raftkvErr(codes.ResourceExhausted, reasonOverloaded, nil)))
	if _, err := c.Put(testCtx(t), "k", []byte("v")); err != nil || n.count("Put") != 2 {
		t.Fatalf("one refusal: Put = %v after %d attempts, want success after 2", err, n.count("Put"))
	}

	n.script("Put", always(raftkvErr(codes.ResourceExhausted, reasonOverloaded, nil)))
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	before := n.count("Put")
	for i := range 10 {
		_, err := c.Put(ctx, "k", []byte("v"))
		if !errors.Is(err, ErrOverloaded) {
			t.Fatalf("call %d under overload = %v, want ErrOverloaded", i, err)
		}
	}
	attempts := n.count("Put") - before
	if attempts > 15 {
		t.Fatalf("10 refused calls made %d attempts; want retries to stop after a few refusals", attempts)
	}
	last := n.count("Put")
	if _, err := c.Put(ctx, "k", []byte("v")); !errors.Is(err, ErrOverloaded) || n.count("Put") != last+1 {
		t.Fatalf("throttled call = %v after %d attempts, want ErrOverloaded after exactly 1", err, n.count("Put")-last)
	}

	n.script("Put", nil)
	for range 70 { // from an empty bucket: 70 x 0.1 tokens, more than half of 10
		if _, err := c.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	n.script("Put", failFirst(n.count("Put")+1, raftkvErr(codes.ResourceExhausted, reasonOverloaded, nil)))
	if _, err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("after 70 successes a refusal is not retried again; Put = %v", err)
	}
}

func TestRetryThrottle(t *testing.T) {
	th := newRetryThrottle()
	allowed := 0
	for th.refused() {
		allowed++
	}
	if allowed != 4 { // 10 tokens: retries while more than 5 remain
		t.Fatalf("%d refusals retried from a full bucket, want 4", allowed)
	}
	for range 60 {
		th.succeeded()
	}
	if !th.refused() {
		t.Fatal("refusals not retried again after 60 successes")
	}
}
