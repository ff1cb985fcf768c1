package rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/store"
)

func TestToStatus(t *testing.T) {
	leaderAddr := func(id raftnode.NodeID) string {
		if id == "n2" {
			return "127.0.0.1:7002"
		}
		return ""
	}
	wrap := func(err error) error { return fmt.Errorf("apply: %w", err) }
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		reason   string
		internal bool
	}{
		{"not found", wrap(store.ErrNotFound), codes.NotFound, "", false},
		{"invalid argument", wrap(fmt.Errorf("%w: key is empty", store.ErrInvalidArgument)), codes.InvalidArgument, "", false},
		{"request too old", wrap(store.ErrRequestTooOld), codes.FailedPrecondition, ReasonRequestTooOld, false},
		{"session expired", wrap(store.ErrSessionExpired), codes.FailedPrecondition, ReasonSessionExpired, false},
		{"not leader with hint", wrap(&raftnode.NotLeaderError{LeaderID: "n2", LeaderRaftAddr: "127.0.0.1:7102"}), codes.FailedPrecondition, ReasonNotLeader, false},
		{"not leader bare", raftnode.ErrNotLeader, codes.Unavailable, ReasonNoLeader, false},
		{"no leader", wrap(raftnode.ErrNoLeader), codes.Unavailable, ReasonNoLeader, false},
		{"leader address unknown", wrap(errNotForwardable), codes.Unavailable, ReasonNoLeader, false},
		{"not proposed", wrap(raftnode.ErrNotProposed), codes.Unavailable, ReasonNotProposed, false},
		{"outcome unknown", wrap(raftnode.ErrOutcomeUnknown), codes.Unavailable, ReasonOutcomeUnknown, false},
		{"outcome unknown beats deadline", fmt.Errorf("%w: %w", raftnode.ErrOutcomeUnknown, context.DeadlineExceeded), codes.Unavailable, ReasonOutcomeUnknown, false},
		{"shutdown", wrap(raftnode.ErrShutdown), codes.Unavailable, ReasonShuttingDown, false},
		{"store closed", wrap(store.ErrClosed), codes.Unavailable, ReasonShuttingDown, false},
		{"deadline", wrap(context.DeadlineExceeded), codes.DeadlineExceeded, "", false},
		{"canceled", wrap(context.Canceled), codes.Canceled, "", false},
		{"status passes through", withReason(codes.Unavailable, "from leader", ReasonNoLeader, nil), codes.Unavailable, ReasonNoLeader, false},
		{"no quorum", wrap(&raftnode.NoQuorumError{Since: time.Now()}), codes.Unavailable, ReasonNoQuorum, false},
		{"stale", wrap(&staleReadError{applied: 3, lastContact: -1, why: "never heard from a leader"}), codes.Unavailable, ReasonStale, false},
		{"membership invalid argument", wrap(raftnode.ErrInvalidArgument), codes.InvalidArgument, "", false},
		{"unknown member", wrap(raftnode.ErrUnknownMember), codes.NotFound, ReasonUnknownMember, false},
		{"membership refused", wrap(raftnode.ErrMembershipRefused), codes.FailedPrecondition, ReasonMembershipRefused, false},
		{"overloaded", wrap(&overloadedError{class: "writes", limit: 4, retryAfter: 50 * time.Millisecond}), codes.ResourceExhausted, ReasonOverloaded, false},
		{"unauthenticated", fmt.Errorf("%w: missing bearer token", errUnauthenticated), codes.Unauthenticated, "", false},
		{"permission denied", fmt.Errorf("%w: read may not write", errPermissionDenied), codes.PermissionDenied, "", false},
		{"unknown", errors.New("disk on fire"), codes.Internal, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := toStatus(tt.err, "n1", leaderAddr)
			st := status.Convert(got)
			if st.Code() != tt.code {
				t.Errorf("code = %v, want %v", st.Code(), tt.code)
			}
			if r := reasonOf(got); r != tt.reason {
				t.Errorf("reason = %q, want %q", r, tt.reason)
			}
			if known == tt.internal {
				t.Errorf("known = %v, want %v", known, !tt.internal)
			}
		})
	}
	if got, _ := toStatus(nil, "n1", leaderAddr); got != nil {
		t.Errorf("toStatus(nil) = %v", got)
	}
}

func TestToStatus_NotLeaderCarriesHint(t *testing.T) {
	err, _ := toStatus(&raftnode.NotLeaderError{LeaderID: "n2"}, "n1", func(raftnode.NodeID) string { return "127.0.0.1:7002" })
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.Metadata["leader_id"] != "n2" || info.Metadata["leader_addr"] != "127.0.0.1:7002" || info.Domain != ErrorDomain {
				t.Fatalf("metadata = %v domain %q", info.Metadata, info.Domain)
			}
			return
		}
	}
	t.Fatal("no ErrorInfo in NOT_LEADER status")
}

func TestToStatus_OverloadedCarriesRetryHint(t *testing.T) {
	err, _ := toStatus(&overloadedError{class: "reads", limit: 8, retryAfter: 75 * time.Millisecond}, "n1", nil)
	var info *errdetails.ErrorInfo
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.RetryInfo:
			retry = d
		}
	}
	if info == nil || info.Metadata["limit"] != "8" || info.Metadata["node_id"] != "n1" {
		t.Fatalf("ErrorInfo = %v", info)
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != 75*time.Millisecond {
		t.Fatalf("RetryInfo = %v, want 75ms", retry)
	}
}
