package autopilot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raftnode"
)

// fakeNode is a leader with a fixed configuration that records changes.
type fakeNode struct {
	members  []raftnode.Member
	failing  map[raftnode.NodeID]time.Time
	commit   uint64
	promoted []raftnode.NodeID
	removed  []raftnode.NodeID
}

func (f *fakeNode) ID() raftnode.NodeID     { return "n1" }
func (f *fakeNode) IsLeader() bool          { return true }
func (f *fakeNode) Status() raftnode.Status { return raftnode.Status{CommitIndex: f.commit} }
func (f *fakeNode) Members(context.Context) ([]raftnode.Member, error) {
	return f.members, nil
}
func (f *fakeNode) FailingPeers() map[raftnode.NodeID]time.Time { return f.failing }
func (f *fakeNode) PromoteToVoter(_ context.Context, id raftnode.NodeID) error {
	f.promoted = append(f.promoted, id)
	return nil
}
func (f *fakeNode) RemoveServer(_ context.Context, id raftnode.NodeID) error {
	f.removed = append(f.removed, id)
	return nil
}

func members(voters, nonvoters int) []raftnode.Member {
	var ms []raftnode.Member
	for i := range voters + nonvoters {
		ms = append(ms, raftnode.Member{ID: raftnode.NodeID(string(rune('1' + i))), Voter: i < voters})
	}
	for i := range ms {
		ms[i].ID = "n" + ms[i].ID
	}
	return ms
}

func TestAutopilot_DeadMemberSafety(t *testing.T) {
	now := time.Now()
	long := now.Add(-time.Minute)
	short := now.Add(-time.Second)
	tests := []struct {
		name    string
		voters  int
		nonvote int
		failing map[raftnode.NodeID]time.Time
		want    []raftnode.NodeID
	}{
		{"three voters, one dead", 3, 0, map[raftnode.NodeID]time.Time{"n3": long}, []raftnode.NodeID{"n3"}},
		{"failing but not for long", 3, 0, map[raftnode.NodeID]time.Time{"n3": short}, nil},
		{"three voters, two dead: no majority left", 3, 0, map[raftnode.NodeID]time.Time{"n2": long, "n3": long}, nil},
		{"five voters, two dead", 5, 0, map[raftnode.NodeID]time.Time{"n4": long, "n5": long}, []raftnode.NodeID{"n4"}},
		{"five voters, two dead, one more failing", 5, 0, map[raftnode.NodeID]time.Time{"n3": short, "n4": long, "n5": long}, nil},
		{"two voters, one dead: no majority now", 2, 0, map[raftnode.NodeID]time.Time{"n2": long}, nil},
		{"four voters, one dead", 4, 0, map[raftnode.NodeID]time.Time{"n4": long}, []raftnode.NodeID{"n4"}},
		{"dead non-voter first", 3, 1, map[raftnode.NodeID]time.Time{"n3": long, "n4": long}, []raftnode.NodeID{"n4"}},
		{"self never", 1, 0, map[raftnode.NodeID]time.Time{"n1": long}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNode{members: members(tt.voters, tt.nonvote), failing: tt.failing}
			a, err := New(Config{DeadMemberTimeout: 30 * time.Second}, f, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.step(context.Background(), now); err != nil {
				t.Fatal(err)
			}
			if len(f.removed) != len(tt.want) || (len(tt.want) > 0 && f.removed[0] != tt.want[0]) {
				t.Fatalf("removed %v, want %v", f.removed, tt.want)
			}
		})
	}
}

func TestAutopilot_PromotesAfterStabilization(t *testing.T) {
	f := &fakeNode{members: members(1, 2), failing: map[raftnode.NodeID]time.Time{}, commit: 1000}
	applied := map[raftnode.NodeID]uint64{"n2": 990, "n3": 100}
	probe := func(_ context.Context, id raftnode.NodeID) (uint64, error) {
		if a, ok := applied[id]; ok {
			return a, nil
		}
		return 0, errors.New("unreachable")
	}
	a, err := New(Config{TargetVoters: 3, StabilizationTime: 10 * time.Second, MaxLag: 20}, f, probe)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	step := func(at time.Time) {
		t.Helper()
		if err := a.step(context.Background(), at); err != nil {
			t.Fatal(err)
		}
	}
	step(now)
	step(now.Add(5 * time.Second))
	if len(f.promoted) != 0 {
		t.Fatalf("promoted %v before stabilization", f.promoted)
	}
	// A failed heartbeat restarts n2's stabilization.
	f.failing["n2"] = now
	step(now.Add(6 * time.Second))
	delete(f.failing, "n2")
	step(now.Add(7 * time.Second))
	step(now.Add(16 * time.Second))
	if len(f.promoted) != 0 {
		t.Fatalf("promoted %v although n2 was unhealthy 9s ago", f.promoted)
	}
	step(now.Add(17 * time.Second))
	if len(f.promoted) != 1 || f.promoted[0] != "n2" {
		t.Fatalf("promoted %v, want [n2] (n3 lags)", f.promoted)
	}
	// At the target: nothing more, even once n3 catches up.
	f.members[1].Voter = true
	f.members[2].Voter = true
	applied["n3"] = 1000
	step(now.Add(40 * time.Second))
	if len(f.promoted) != 1 {
		t.Fatalf("promoted %v beyond the target", f.promoted)
	}
}
