package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/client"
)

func TestRun_MembershipCommands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantChange string
		wantStdout string
	}{
		{"add voter", []string{"member", "add", "n4", "--raft-addr", "h:1", "--grpc-addr", "h:2"}, "add n4 h:1 h:2 nonvoter=false", "member n4 added\n"},
		{"add non-voter", []string{"member", "add", "n4", "--raft-addr", "h:1", "--grpc-addr", "h:2", "--nonvoter"}, "add n4 h:1 h:2 nonvoter=true", "member n4 added\n"},
		{"remove", []string{"member", "remove", "n2"}, "remove n2", "member n2 removed\n"},
		{"rm alias", []string{"member", "rm", "n2"}, "remove n2", "member n2 removed\n"},
		{"promote", []string{"member", "promote", "n4"}, "promote n4", "member n4 promoted\n"},
		{"transfer to", []string{"leader", "transfer", "--to", "n3"}, "transfer n3", "leadership transferred to n3\n"},
		{"transfer any", []string{"leader", "transfer"}, "transfer ", "leadership transferred\n"},
		{"json", []string{"-w", "json", "member", "remove", "n2"}, "remove n2", "{\n  \"ok\": true,\n  \"message\": \"member n2 removed\"\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFakeClient()
			r := runWith(t, fc, nil, tt.args...)
			if r.code != exitOK || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if !slices.Equal(fc.changes, []string{tt.wantChange}) {
				t.Errorf("changes = %q, want [%q]", fc.changes, tt.wantChange)
			}
			if r.stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", r.stdout, tt.wantStdout)
			}
		})
	}
}

func TestRun_MembershipErrors(t *testing.T) {
	for _, args := range [][]string{
		{"member", "add", "n4"},
		{"member", "add", "n4", "--raft-addr", "h:1"},
		{"member", "add", "--raft-addr", "h:1", "--grpc-addr", "h:2"},
		{"member", "remove"},
		{"member", "promote", "a", "b"},
		{"leader", "transfer", "n2"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			fc := newFakeClient()
			if r := runWith(t, fc, nil, args...); r.code != exitUsage || len(fc.changes) != 0 {
				t.Errorf("exit %d (stderr %q), changes %q; want usage error and no change", r.code, r.stderr, fc.changes)
			}
		})
	}
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: %q is not in the configuration", client.ErrUnknownMember, "n9"), exitNotFound},
		{fmt.Errorf("%w: n1 is the last voter", client.ErrMembershipRefused), exitRefused},
		{fmt.Errorf("%w: remove member needs the id", client.ErrInvalidArgument), exitUsage},
		{fmt.Errorf("%w: n1", client.ErrNoLeader), exitUnavailable},
	}
	for _, tt := range tests {
		for _, args := range [][]string{{"member", "remove", "n9"}, {"member", "promote", "n9"}, {"leader", "transfer", "--to", "n9"},
			{"member", "add", "n9", "--raft-addr", "h:1", "--grpc-addr", "h:2"}} {
			fc := newFakeClient()
			fc.memErr = tt.err
			r := runWith(t, fc, nil, args...)
			if r.code != tt.want || !strings.Contains(r.stderr, tt.err.Error()) {
				t.Errorf("%v with %q: exit %d, stderr %q; want exit %d and the error", args, tt.err, r.code, r.stderr, tt.want)
			}
		}
	}
}
