package chaos

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// h builds a history; times are in arbitrary units.
func h(ops ...Op) []Op {
	for i := range ops {
		ops[i].ID = i
	}
	return ops
}

func put(client int, key, value string, call, ret int64, out Outcome) Op {
	return Op{Client: client, Kind: OpPut, Key: key, Value: value, Call: call, Return: ret, Outcome: out}
}

func get(client int, key, value string, found bool, call, ret int64) Op {
	return Op{Client: client, Kind: OpGet, Key: key, Value: value, Found: found, Call: call, Return: ret, Outcome: OutcomeOK}
}

func del(client int, key string, deleted bool, call, ret int64, out Outcome) Op {
	return Op{Client: client, Kind: OpDelete, Key: key, Found: deleted, Call: call, Return: ret, Outcome: out}
}

// cas swaps k from old (absent when old is "") to value; swapped is its answer.
func cas(client int, key, old, value string, swapped bool, call, ret int64, out Outcome) Op {
	return Op{Client: client, Kind: OpCAS, Key: key, Old: old, OldPresent: old != "", Value: value, Found: swapped,
		Call: call, Return: ret, Outcome: out}
}

func final(op Op) Op { op.Final = true; return op }

func TestCheckHistory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ops   []Op
		lin   porcupine.CheckResult
		kinds map[FailureKind]int
	}{{
		name: "sequential",
		ops: h(put(0, "k", "a", 0, 1, OutcomeOK), get(1, "k", "a", true, 2, 3),
			del(0, "k", true, 4, 5, OutcomeOK), final(get(2, "k", "", false, 6, 7))),
		lin: porcupine.Ok,
	}, {
		name: "concurrent read may see either",
		ops: h(put(0, "k", "a", 0, 1, OutcomeOK), put(0, "k", "b", 2, 10, OutcomeOK),
			get(1, "k", "a", true, 3, 4), get(1, "k", "b", true, 5, 6), final(get(2, "k", "b", true, 11, 12))),
		lin: porcupine.Ok,
	}, {
		name: "stale read after acknowledged write",
		ops:  h(put(0, "k", "a", 0, 1, OutcomeOK), put(0, "k", "b", 2, 3, OutcomeOK), get(1, "k", "a", true, 4, 5)),
		lin:  porcupine.Illegal,
	}, {
		name: "unknown write seen later, another never seen",
		ops: h(put(0, "k", "a", 0, 1, OutcomeUnknown), put(1, "k", "b", 2, 3, OutcomeUnknown),
			get(2, "k", "b", true, 10, 11), final(get(2, "k", "b", true, 12, 13))),
		lin: porcupine.Ok,
	}, {
		name: "failed write is not applied",
		ops:  h(put(0, "k", "a", 0, 1, OutcomeFailed), get(1, "k", "a", true, 2, 3)),
		lin:  porcupine.Illegal,
		kinds: map[FailureKind]int{
			KindFailedWriteSeen: 1,
		},
	}, {
		name:  "phantom value",
		ops:   h(put(0, "k", "a", 0, 1, OutcomeOK), get(1, "k", "zzz", true, 2, 3)),
		lin:   porcupine.Illegal,
		kinds: map[FailureKind]int{KindPhantomRead: 1},
	}, {
		name:  "delete reports a key that was absent",
		ops:   h(del(0, "k", true, 0, 1, OutcomeOK)),
		lin:   porcupine.Illegal,
		kinds: map[FailureKind]int{},
	}, {
		name: "lost acknowledged write",
		ops: h(put(0, "k", "a", 0, 1, OutcomeOK), put(0, "k", "b", 2, 3, OutcomeOK),
			final(get(9, "k", "a", true, 10, 11))),
		lin:   porcupine.Illegal,
		kinds: map[FailureKind]int{KindLostWrite: 1},
	}, {
		name: "lost write explained by a concurrent unknown delete",
		ops: h(put(0, "k", "a", 0, 3, OutcomeOK), del(1, "k", false, 1, 2, OutcomeUnknown),
			final(get(9, "k", "", false, 10, 11))),
		lin: porcupine.Ok,
	}, {
		name: "acknowledged put missing without any delete",
		ops:  h(put(0, "k", "a", 0, 1, OutcomeOK), final(get(9, "k", "", false, 10, 11))),
		lin:  porcupine.Illegal, kinds: map[FailureKind]int{KindLostWrite: 1},
	}, {
		name: "cas chain",
		ops: h(cas(0, "k", "", "a", true, 0, 1, OutcomeOK), cas(1, "k", "a", "b", true, 2, 3, OutcomeOK),
			cas(2, "k", "a", "c", false, 4, 5, OutcomeOK), final(get(9, "k", "b", true, 10, 11))),
		lin: porcupine.Ok,
	}, {
		name: "cas swapped although the value did not match",
		ops:  h(put(0, "k", "a", 0, 1, OutcomeOK), cas(1, "k", "x", "b", true, 2, 3, OutcomeOK)),
		lin:  porcupine.Illegal, kinds: map[FailureKind]int{},
	}, {
		name: "cas refused although the value matched",
		ops:  h(put(0, "k", "a", 0, 1, OutcomeOK), cas(1, "k", "a", "b", false, 2, 3, OutcomeOK)),
		lin:  porcupine.Illegal, kinds: map[FailureKind]int{},
	}, {
		name: "cas that did not swap is never seen",
		ops:  h(cas(0, "k", "", "a", false, 0, 1, OutcomeOK), get(1, "k", "a", true, 2, 3)),
		lin:  porcupine.Illegal, kinds: map[FailureKind]int{KindFailedWriteSeen: 1},
	}, {
		name: "unknown cas may take effect where it matches",
		ops: h(put(0, "k", "a", 0, 1, OutcomeOK), cas(1, "k", "a", "b", false, 2, 3, OutcomeUnknown),
			get(2, "k", "b", true, 5, 6), final(get(9, "k", "b", true, 10, 11))),
		lin: porcupine.Ok,
	}, {
		name: "unknown cas cannot take effect where it never matched",
		ops: h(put(0, "k", "a", 0, 1, OutcomeOK), cas(1, "k", "x", "b", false, 2, 3, OutcomeUnknown),
			get(2, "k", "b", true, 5, 6)),
		lin: porcupine.Illegal, kinds: map[FailureKind]int{},
	}, {
		name: "lost acknowledged swap",
		ops: h(put(0, "k", "a", 0, 1, OutcomeOK), cas(1, "k", "a", "b", true, 2, 3, OutcomeOK),
			final(get(9, "k", "a", true, 10, 11))),
		lin: porcupine.Illegal, kinds: map[FailureKind]int{KindLostWrite: 1},
	}, {
		name: "keys are independent",
		ops: h(put(0, "k1", "a", 0, 1, OutcomeOK), put(1, "k2", "b", 0, 1, OutcomeOK),
			get(2, "k1", "a", true, 2, 3), get(2, "k2", "", false, 4, 5)),
		lin: porcupine.Illegal,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckHistory(tc.ops, 10*time.Second)
			if r.Linearizable != tc.lin {
				t.Errorf("linearizable = %s, want %s", r.Linearizable, tc.lin)
			}
			got := map[FailureKind]int{}
			for _, f := range r.Failures {
				if f.Kind != KindNonLinearizable {
					got[f.Kind]++
				}
			}
			for k, n := range tc.kinds {
				if got[k] != n {
					t.Errorf("%s failures = %d, want %d (all: %v)", k, got[k], n, r.Failures)
				}
			}
			if tc.kinds == nil && len(got) > 0 {
				t.Errorf("unexpected failures: %v", r.Failures)
			}
		})
	}
}

func TestFailovers(t *testing.T) {
	sec := int64(time.Second)
	events := []FaultEvent{
		{Kind: FaultKillLeader, Start: 10 * sec, LeaderKill: true},
		{Kind: FaultKillRandom, Start: 20 * sec, LeaderKill: false},
		{Kind: FaultKillRandom, Start: 30 * sec, LeaderKill: true},
	}
	ops := h(
		put(0, "k", "a", 9*sec, 10*sec+1, OutcomeOK),           // in flight at the kill: not counted
		get(1, "k", "a", true, 10*sec+5, 10*sec+6),             // a read
		put(2, "k", "b", 10*sec+7, 11*sec+500, OutcomeUnknown), // not acknowledged
		put(3, "k", "c", 10*sec+8, 11*sec+900, OutcomeOK),      // the first one
		del(4, "k", true, 10*sec+9, 12*sec, OutcomeOK),
	)
	got, missed := failovers(events, ops)
	if len(got) != 1 || got[0] != time.Second+900 || missed != 1 {
		t.Fatalf("failovers = %v, missed %d; want [1.0000009s], 1", got, missed)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty percentile not 0")
	}
}

func TestParseFaults(t *testing.T) {
	if ks, err := ParseFaults("all"); err != nil || len(ks) != len(AllFaults) {
		t.Fatalf("all: %v %v", ks, err)
	}
	if ks, err := ParseFaults("kill-leader, split"); err != nil || len(ks) != 2 || ks[1] != FaultSplit {
		t.Fatalf("two: %v %v", ks, err)
	}
	if _, err := ParseFaults("kill-everything"); err == nil {
		t.Fatal("unknown fault accepted")
	}
}

func TestCheckStaleReads(t *testing.T) {
	stale := func(value string, mod, applied uint64) Op {
		return Op{Kind: OpStaleGet, Key: "k", Value: value, Found: true, Index: mod, Applied: applied, Outcome: OutcomeOK, Call: 10, Return: 11}
	}
	withIndex := func(op Op, i uint64) Op { op.Index = i; return op }
	base := []Op{withIndex(put(0, "k", "a", 0, 1, OutcomeOK), 5), withIndex(put(0, "k", "b", 2, 3, OutcomeOK), 9)}
	for _, tc := range []struct {
		name string
		read Op
		bad  int
	}{
		{"current", stale("b", 9, 12), 0},
		{"old but honest", stale("a", 5, 7), 0},
		{"applied index covers a later write", stale("a", 5, 9), 1},
		{"mod index past applied", stale("b", 9, 8), 1},
		{"wrong mod index", stale("a", 6, 7), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := h(append(append([]Op(nil), base...), tc.read)...)
			if bad := checkStaleReads(ops); len(bad) != tc.bad {
				t.Errorf("failures %v; want %d", bad, tc.bad)
			}
			r := CheckHistory(ops, 10*time.Second)
			if r.Linearizable != porcupine.Ok {
				t.Errorf("stale gets must not reach porcupine: %s", r.Linearizable)
			}
		})
	}
}

// TestCheckStaleReads_CAS checks that swaps count as writes for stale
// reads: an applied index covering a swap must not return the value it
// replaced, and a cas that did not swap replaces nothing.
func TestCheckStaleReads_CAS(t *testing.T) {
	withIndex := func(op Op, i uint64) Op { op.Index = i; return op }
	base := []Op{
		withIndex(put(0, "k", "a", 0, 1, OutcomeOK), 5),
		withIndex(cas(1, "k", "a", "b", true, 2, 3, OutcomeOK), 9),
		withIndex(cas(2, "k", "zz", "c", false, 4, 5, OutcomeOK), 11),
	}
	stale := func(value string, mod, applied uint64) Op {
		return Op{Kind: OpStaleGet, Key: "k", Value: value, Found: true, Index: mod, Applied: applied, Outcome: OutcomeOK, Call: 10, Return: 12}
	}
	for _, tc := range []struct {
		name string
		read Op
		bad  int
	}{
		{"swapped value", stale("b", 9, 12), 0},
		{"value before the swap, honest index", stale("a", 5, 8), 0},
		{"applied index covers the swap", stale("a", 5, 9), 1},
		{"swap seen at the wrong mod index", stale("b", 11, 12), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := h(append(append([]Op(nil), base...), tc.read)...)
			if bad := checkStaleReads(ops); len(bad) != tc.bad {
				t.Errorf("failures %v; want %d", bad, tc.bad)
			}
		})
	}
}
