package main

import (
	"errors"
	"testing"

	"github.com/raftkv/raftkv/client"
)

func TestClusterTolerance(t *testing.T) {
	ok := func(id string) healthRow {
		return healthRow{statusRow: statusRow{Member: client.Member{ID: id, Voter: true},
			Status: &client.Status{Role: "follower", CommitIndex: 5, AppliedIndex: 5, Header: client.Header{LeaderKnown: true}}}}
	}
	down := func(id string) healthRow {
		return healthRow{statusRow: statusRow{Member: client.Member{ID: id, Voter: true}, Err: errors.New("connection refused")}}
	}
	degraded := ok("n3")
	degraded.Status.Header.Degraded = true
	behind := ok("n2")
	behind.Status.CommitIndex = 1000
	behind.Status.AppliedIndex = 1000 - healthyMaxLag - 1
	busy := ok("n2") // a batch or two behind under load: healthy
	busy.Status.CommitIndex = 1000
	busy.Status.AppliedIndex = 1000 - healthyMaxLag
	nonVoter := down("r1")
	nonVoter.Member.Voter = false

	tests := []struct {
		name      string
		rows      []healthRow
		healthy   int
		tolerance int
	}{
		{"all healthy", []healthRow{ok("n1"), ok("n2"), ok("n3")}, 3, 1},
		{"one down", []healthRow{ok("n1"), ok("n2"), down("n3")}, 2, 0},
		{"one degraded one behind", []healthRow{ok("n1"), behind, degraded}, 1, -1},
		{"busy, within the lag allowed", []healthRow{ok("n1"), busy, ok("n3")}, 3, 1},
		{"five voters, non-voter ignored", []healthRow{ok("n1"), ok("n2"), ok("n3"), ok("n4"), down("n5"), nonVoter}, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clusterTolerance(tt.rows)
			if got.Healthy != tt.healthy || got.FailureTolerance != tt.tolerance {
				t.Fatalf("tolerance = %+v, want healthy %d, tolerance %d", got, tt.healthy, tt.tolerance)
			}
		})
	}
	for _, r := range []healthRow{down("x"), degraded, behind} {
		if r.healthy() || r.verdict() == "" {
			t.Errorf("%s: healthy=%v verdict=%q", r.Member.ID, r.healthy(), r.verdict())
		}
	}
}
