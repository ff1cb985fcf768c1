package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/client"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"other", errors.New("boom"), exitError},
		{"usage", usageError{errors.New("bad flag")}, exitUsage},
		{"wrapped usage", fmt.Errorf("x: %w", usageError{errors.New("bad flag")}), exitUsage},
		{"invalid argument", fmt.Errorf("put: %w: key too long", client.ErrInvalidArgument), exitUsage},
		{"not found", fmt.Errorf("get: %w", client.ErrNotFound), exitNotFound},
		{"no leader", fmt.Errorf("%w; gave up: %w", client.ErrNoLeader, context.DeadlineExceeded), exitUnavailable},
		{"unavailable", client.ErrUnavailable, exitUnavailable},
		{"timeout", context.DeadlineExceeded, exitUnavailable},
		{"outcome unknown", client.ErrOutcomeUnknown, exitOutcomeUnknown},
		{"outcome unknown at deadline", fmt.Errorf("%w: %w", client.ErrOutcomeUnknown, context.DeadlineExceeded), exitOutcomeUnknown},
		{"closed", client.ErrClosed, exitError},
		{"condition failed", fmt.Errorf("cas %q: %w", "k", conditionError{"the value differs"}), exitCondition},
		{"no quorum", fmt.Errorf("put: %w", &client.NoQuorumError{NodeID: "n2"}), exitUnavailable},
		{"stale", fmt.Errorf("get: %w", client.ErrStale), exitUnavailable},
		{"unknown member", fmt.Errorf("remove member n9: %w", client.ErrUnknownMember), exitNotFound},
		{"membership refused", fmt.Errorf("remove member n1: %w", client.ErrMembershipRefused), exitRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
