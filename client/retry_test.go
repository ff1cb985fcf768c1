package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
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
	tests := []struct {
		name string
		f    failure
		kind opKind
		sent bool
		want action
	}{
		{"not leader follows hint", hint, writeOp, true, actRedirect},
		{"not leader hint to itself", selfHint, writeOp, true, actBackoff},
		{"not leader without address", noAddr, readOp, true, actBackoff},
		{"no leader write", unavail(reasonNoLeader), writeOp, true, actBackoff},
		{"not proposed write", unavail(reasonNotProposed), writeOp, true, actBackoff},
		{"shutting down write", unavail(reasonShuttingDown), writeOp, true, actNext},
		{"outcome unknown write", unavail(reasonOutcomeUnknown), writeOp, true, actReturn},
		{"outcome unknown read", unavail(reasonOutcomeUnknown), readOp, true, actBackoff},
		{"unknown reason write", unavail("NEW"), writeOp, true, actReturn},
		{"unknown reason read", unavail("NEW"), readOp, true, actBackoff},
		{"no quorum write", unavail(reasonNoQuorum), writeOp, true, actNext},
		{"transport read", unavail(""), readOp, true, actNext},
		{"transport write sent", unavail(""), writeOp, true, actReturn},
		{"transport write never sent", unavail(""), writeOp, false, actNext},
		{"transport members", unavail(""), anyOp, true, actNext},
		{"server deadline read", failure{code: codes.DeadlineExceeded}, readOp, true, actBackoff},
		{"server deadline write", failure{code: codes.DeadlineExceeded}, writeOp, true, actReturn},
		{"canceled", failure{code: codes.Canceled}, readOp, false, actReturn},
		{"not found", failure{code: codes.NotFound}, readOp, true, actReturn},
		{"invalid argument", failure{code: codes.InvalidArgument}, readOp, true, actReturn},
		{"internal", failure{code: codes.Internal}, readOp, true, actReturn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.f, tt.kind, tt.sent); got != tt.want {
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
