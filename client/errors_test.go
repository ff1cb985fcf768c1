package client

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestClassify(t *testing.T) {
	leader := &fakeNode{id: "n2", addr: "10.0.0.2:8001"}
	f := classify("10.0.0.1:8001", notLeader(leader))
	if f.code != codes.FailedPrecondition || f.reason != reasonNotLeader ||
		f.leaderID != "n2" || f.leaderAddr != "10.0.0.2:8001" || f.target != "10.0.0.1:8001" {
		t.Errorf("classify(NOT_LEADER) = %+v", f)
	}
	f = classify("x", status.Error(codes.Unavailable, "connection refused"))
	if !f.transport() {
		t.Errorf("classify(bare Unavailable) = %+v, want a transport failure", f)
	}
	f = classify("x", raftkvErr(codes.Unavailable, reasonNoLeader, nil))
	if f.transport() || f.reason != reasonNoLeader {
		t.Errorf("classify(NO_LEADER) = %+v", f)
	}
}

func TestFailure_ToError(t *testing.T) {
	type kind struct{ write, sent bool }
	var (
		read       = kind{}
		writeSent  = kind{write: true, sent: true}
		writeUnsnt = kind{write: true}
	)
	unavailable := func(reason string) error {
		if reason == "" {
			return status.Error(codes.Unavailable, "connection refused")
		}
		return raftkvErr(codes.Unavailable, reason, nil)
	}
	tests := []struct {
		name string
		err  error
		kind kind
		want []error // sentinels the result must wrap
		not  []error // sentinels it must not wrap
	}{
		{"not found", status.Error(codes.NotFound, "key \"k\" not found"), read, []error{ErrNotFound}, nil},
		{"invalid argument", status.Error(codes.InvalidArgument, "key too long"), writeSent, []error{ErrInvalidArgument}, []error{ErrOutcomeUnknown}},
		{"not leader", notLeader(&fakeNode{id: "n2", addr: "b:1"}), writeSent, []error{ErrUnavailable}, []error{ErrOutcomeUnknown}},
		{"no leader read", unavailable(reasonNoLeader), read, []error{ErrNoLeader}, nil},
		{"no leader write", unavailable(reasonNoLeader), writeSent, []error{ErrNoLeader}, []error{ErrOutcomeUnknown}},
		{"not proposed write", unavailable(reasonNotProposed), writeSent, []error{ErrUnavailable}, []error{ErrOutcomeUnknown}},
		{"shutting down write", unavailable(reasonShuttingDown), writeSent, []error{ErrUnavailable}, []error{ErrOutcomeUnknown}},
		{"outcome unknown write", unavailable(reasonOutcomeUnknown), writeSent, []error{ErrOutcomeUnknown}, nil},
		{"outcome unknown read", unavailable(reasonOutcomeUnknown), read, []error{ErrUnavailable}, []error{ErrOutcomeUnknown}},
		{"unknown reason write", unavailable("SOMETHING_NEW"), writeSent, []error{ErrOutcomeUnknown}, nil},
		{"unknown reason read", unavailable("SOMETHING_NEW"), read, []error{ErrUnavailable}, nil},
		{"stale read refused", unavailable(reasonStale), read, []error{ErrStale}, []error{ErrUnavailable, ErrOutcomeUnknown}},
		{"no quorum write", unavailable(reasonNoQuorum), writeSent, []error{ErrNoQuorum}, []error{ErrOutcomeUnknown, ErrUnavailable}},
		{"no quorum read", unavailable(reasonNoQuorum), read, []error{ErrNoQuorum}, nil},
		{"transport read", unavailable(""), read, []error{ErrUnavailable}, nil},
		{"transport write sent", unavailable(""), writeSent, []error{ErrOutcomeUnknown}, nil},
		{"transport write never sent", unavailable(""), writeUnsnt, []error{ErrUnavailable}, []error{ErrOutcomeUnknown}},
		{"deadline read", status.Error(codes.DeadlineExceeded, "deadline"), read, []error{context.DeadlineExceeded}, []error{ErrOutcomeUnknown}},
		{"deadline write sent", status.Error(codes.DeadlineExceeded, "deadline"), writeSent, []error{context.DeadlineExceeded, ErrOutcomeUnknown}, nil},
		{"deadline write never sent", status.Error(codes.DeadlineExceeded, "deadline"), writeUnsnt, []error{context.DeadlineExceeded}, []error{ErrOutcomeUnknown}},
		{"canceled read", status.Error(codes.Canceled, "canceled"), read, []error{context.Canceled}, nil},
		{"canceled write sent", status.Error(codes.Canceled, "canceled"), writeSent, []error{context.Canceled, ErrOutcomeUnknown}, nil},
		{"internal", status.Error(codes.Internal, "boom"), read, nil, []error{ErrNotFound, ErrInvalidArgument, ErrNoLeader, ErrOutcomeUnknown, ErrUnavailable}},
		{"other precondition", status.Error(codes.FailedPrecondition, "nope"), writeSent, nil, []error{ErrUnavailable, ErrOutcomeUnknown}},
		{"request too old", raftkvErr(codes.FailedPrecondition, reasonRequestTooOld, nil), writeSent, []error{ErrOutcomeUnknown}, []error{ErrUnavailable}},
		{"session expired", raftkvErr(codes.FailedPrecondition, reasonSessionExpired, nil), writeSent, []error{ErrOutcomeUnknown}, []error{ErrUnavailable}},
		{"unknown member", raftkvErr(codes.NotFound, reasonUnknownMember, nil), read, []error{ErrUnknownMember}, []error{ErrNotFound}},
		{"membership refused", raftkvErr(codes.FailedPrecondition, reasonRefused, nil), read, []error{ErrMembershipRefused}, []error{ErrUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify("node:1", tt.err).toError(tt.kind.write, tt.kind.sent)
			for _, w := range tt.want {
				if !errors.Is(got, w) {
					t.Errorf("toError = %q, want it to wrap %q", got, w)
				}
			}
			for _, n := range tt.not {
				if errors.Is(got, n) {
					t.Errorf("toError = %q, must not wrap %q", got, n)
				}
			}
			// The text keeps the server's message so it says what to fix.
			if msg := status.Convert(tt.err).Message(); tt.kind.sent == false && !strings.Contains(got.Error(), msg) {
				t.Errorf("toError = %q, want it to contain the server message %q", got, msg)
			}
		})
	}
}
