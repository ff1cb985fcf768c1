package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// FaultKind names one kind of fault the nemesis injects.
type FaultKind string

// Fault kinds.
const (
	// FaultKillLeader SIGKILLs the leader and restarts it after 1-4s.
	FaultKillLeader FaultKind = "kill-leader"
	// FaultKillRandom SIGKILLs a random node and restarts it after 1-4s.
	FaultKillRandom FaultKind = "kill-random"
	// FaultPause SIGSTOPs the leader or a random node for 1-10s.
	FaultPause FaultKind = "pause"
	// FaultRollingPause pauses every node in turn, 1-3s each.
	FaultRollingPause FaultKind = "rolling-pause"
	// FaultIsolateLeader cuts the leader (with N=5, the leader and one
	// follower) off from the majority for 2-6s.
	FaultIsolateLeader FaultKind = "isolate-leader"
	// FaultSplit splits the nodes at random into a majority and a minority
	// (of one node, or with N=5 of one or two) for 2-6s.
	FaultSplit FaultKind = "split"
	// FaultOneWay drops the packets one node (often the leader) sends to
	// the others, but not those it receives, for 2-6s.
	FaultOneWay FaultKind = "one-way"
	// FaultFlap partitions and heals at random every 0.2-1s for 3-8s.
	FaultFlap FaultKind = "flap"
	// FaultSlow drops 0-5% of the packets one or two nodes receive from
	// their peers and delays what they send (netem 10-100ms ± 25%, or
	// where the kernel lacks netem a 256-2048 kbit/s token bucket) for 3-6s.
	FaultSlow FaultKind = "slow"
)

// AllFaults lists every fault kind.
var AllFaults = []FaultKind{
	FaultKillLeader, FaultKillRandom, FaultPause, FaultRollingPause,
	FaultIsolateLeader, FaultSplit, FaultOneWay, FaultFlap, FaultSlow,
}

// ParseFaults parses a comma-separated list of fault kinds; "" or "all"
// means AllFaults.
func ParseFaults(s string) ([]FaultKind, error) {
	if s == "" || s == "all" {
		return AllFaults, nil
	}
	var out []FaultKind
	for _, f := range strings.Split(s, ",") {
		k := FaultKind(strings.TrimSpace(f))
		found := false
		for _, a := range AllFaults {
			found = found || a == k
		}
		if !found {
			return nil, fmt.Errorf("unknown fault %q (want one of %v)", k, AllFaults)
		}
		out = append(out, k)
	}
	return out, nil
}

// FaultEvent records one injected fault.
type FaultEvent struct {
	// Kind is the fault.
	Kind FaultKind `json:"kind"`
	// Start and End are history times (ns since the workload started).
	Start int64 `json:"start_ns"`
	End   int64 `json:"end_ns"`
	// Detail says which nodes and how.
	Detail string `json:"detail"`
	// LeaderKill is set when the fault SIGKILLed the node that was leader.
	LeaderKill bool `json:"leader_kill,omitempty"`
}

// Nemesis injects a seeded sequence of faults into a Cluster.
type Nemesis struct {
	c     *Cluster
	nw    *Network
	rec   *Recorder
	rng   *rand.Rand
	kinds []FaultKind
	logf  func(format string, args ...any)

	events []FaultEvent // owned by the Run goroutine until it returns
}

// NewNemesis prepares a nemesis choosing among kinds with a generator seeded
// from seed. Times are recorded on rec's clock.
func NewNemesis(c *Cluster, nw *Network, rec *Recorder, kinds []FaultKind, seed uint64, logf func(string, ...any)) *Nemesis {
	return &Nemesis{c: c, nw: nw, rec: rec, kinds: kinds, logf: logf, rng: rand.New(rand.NewPCG(seed, 0x6e656d))}
}

// Run injects faults one after another, with 0.5-2s of calm between them,
// until stop is closed or ctx ends; it heals the fault in progress before
// returning its log. An error means a fault could not be injected or
// healed.
func (n *Nemesis) Run(ctx context.Context, stop <-chan struct{}) ([]FaultEvent, error) {
	// halt is done once stop closes or ctx ends: it shortens the fault in
	// progress, while ctx still lets the heal steps run.
	halt, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-stop:
		case <-halt.Done():
		}
		cancel()
	}()
	for range 10_000 { // bounded; a run ends long before
		if pause(halt, n.between(500, 2000)) != nil {
			break
		}
		kind := n.kinds[n.rng.IntN(len(n.kinds))]
		ev := FaultEvent{Kind: kind, Start: n.rec.Now()}
		err := n.inject(ctx, halt, &ev)
		ev.End = n.rec.Now()
		n.events = append(n.events, ev)
		n.logf("fault %s [%s, %s]: %s", ev.Kind, ms(ev.Start), ms(ev.End), ev.Detail)
		if err != nil {
			return n.events, fmt.Errorf("fault %s: %w", kind, err)
		}
	}
	return n.events, nil
}

// between returns a random duration in [lo, hi) milliseconds.
func (n *Nemesis) between(lo, hi int) time.Duration {
	return time.Duration(lo+n.rng.IntN(hi-lo)) * time.Millisecond
}

// target returns the current leader, or a random node if none is known.
func (n *Nemesis) target(ctx context.Context, leader bool) (int, bool) {
	if leader {
		if l, err := n.c.WaitLeader(ctx, 5*time.Second); err == nil {
			return l, true
		}
	}
	return n.rng.IntN(n.c.Size()), false
}

// inject applies one fault, holds it (cut short when halt ends) and heals
// it with ctx.
func (n *Nemesis) inject(ctx, halt context.Context, ev *FaultEvent) error {
	size := n.c.Size()
	switch ev.Kind {
	case FaultKillLeader, FaultKillRandom:
		victim, isLeader := n.target(ctx, ev.Kind == FaultKillLeader)
		if ev.Kind == FaultKillRandom {
			isLeader = n.c.Leader(ctx, 500*time.Millisecond) == victim
		}
		down := n.between(1000, 4000)
		ev.Start, ev.LeaderKill = n.rec.Now(), isLeader
		if err := n.c.Kill(victim); err != nil {
			return err
		}
		ev.Detail = fmt.Sprintf("SIGKILL %s (leader=%v), restart after %v", n.c.NodeID(victim), isLeader, down)
		_ = pause(halt, down)
		return n.c.Start(victim)
	case FaultPause:
		victim, isLeader := n.target(ctx, n.rng.IntN(2) == 0)
		d := n.between(1000, 10000)
		ev.Detail = fmt.Sprintf("SIGSTOP %s (leader=%v) for %v", n.c.NodeID(victim), isLeader, d)
		if err := n.c.Pause(victim); err != nil {
			return err
		}
		_ = pause(halt, d)
		return n.c.Resume(victim)
	case FaultRollingPause:
		var parts []string
		for _, i := range n.rng.Perm(size) {
			d := n.between(1000, 3000)
			parts = append(parts, fmt.Sprintf("%s %v", n.c.NodeID(i), d))
			if err := n.c.Pause(i); err != nil {
				return err
			}
			_ = pause(halt, d)
			if err := n.c.Resume(i); err != nil {
				return err
			}
		}
		ev.Detail = "SIGSTOP in turn: " + strings.Join(parts, ", ")
		return nil
	case FaultIsolateLeader:
		l, _ := n.target(ctx, true)
		minority := []int{l}
		for len(minority) < (size-1)/2 {
			if j := n.rng.IntN(size); !contains(minority, j) {
				minority = append(minority, j)
			}
		}
		return n.partitionFor(ctx, halt, ev, minority, n.between(2000, 6000))
	case FaultSplit:
		perm := n.rng.Perm(size)
		return n.partitionFor(ctx, halt, ev, perm[:1+n.rng.IntN((size-1)/2)], n.between(2000, 6000))
	case FaultOneWay:
		src, isLeader := n.target(ctx, n.rng.IntN(3) > 0)
		d := n.between(2000, 6000)
		var dsts []string
		for j := range size {
			if j == src {
				continue
			}
			if err := n.nw.Block(ctx, src, j); err != nil {
				return err
			}
			dsts = append(dsts, n.c.NodeID(j))
		}
		ev.Detail = fmt.Sprintf("drop %s (leader=%v) -> %s for %v", n.c.NodeID(src), isLeader, strings.Join(dsts, ","), d)
		_ = pause(halt, d)
		return n.nw.Heal(ctx)
	case FaultFlap:
		end := time.Now().Add(n.between(3000, 8000))
		flips := 0
		for time.Now().Before(end) && halt.Err() == nil && flips < 100 {
			perm := n.rng.Perm(size)
			if err := n.nw.Partition(ctx, perm[:(size-1)/2], perm[(size-1)/2:]); err != nil {
				return err
			}
			_ = pause(halt, n.between(200, 1000))
			if err := n.nw.Heal(ctx); err != nil {
				return err
			}
			_ = pause(halt, n.between(200, 1000))
			flips++
		}
		ev.Detail = fmt.Sprintf("%d random majority/minority cuts, healed in between", flips)
		return nil
	case FaultSlow:
		var parts []string
		d := n.between(3000, 6000)
		for _, i := range n.rng.Perm(size)[:1+n.rng.IntN(2)] {
			delay, loss, rate := n.between(10, 100), float64(n.rng.IntN(51))/10, 256<<n.rng.IntN(4)
			desc, err := n.nw.Slow(ctx, i, delay, delay/4, loss, rate)
			if err != nil {
				return err
			}
			parts = append(parts, n.c.NodeID(i)+" "+desc)
		}
		ev.Detail = fmt.Sprintf("slow links for %v: %s", d, strings.Join(parts, "; "))
		_ = pause(halt, d)
		return n.nw.Heal(ctx)
	}
	return fmt.Errorf("unknown fault kind %q", ev.Kind)
}

// partitionFor cuts minority off from the other nodes for d.
func (n *Nemesis) partitionFor(ctx, halt context.Context, ev *FaultEvent, minority []int, d time.Duration) error {
	var majority []int
	for j := range n.c.Size() {
		if !contains(minority, j) {
			majority = append(majority, j)
		}
	}
	ev.Detail = fmt.Sprintf("partition %s | %s for %v", n.names(minority), n.names(majority), d)
	if err := n.nw.Partition(ctx, minority, majority); err != nil {
		return err
	}
	_ = pause(halt, d)
	return n.nw.Heal(ctx)
}

func (n *Nemesis) names(idx []int) string {
	var s []string
	for _, i := range idx {
		s = append(s, n.c.NodeID(i))
	}
	return "{" + strings.Join(s, ",") + "}"
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
