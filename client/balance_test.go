package client

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// testBalancer returns a balancer over addrs with a fake clock and a probe
// hook that records the probed addresses.
func testBalancer(addrs ...string) (*balancer, *fakeClock, *[]string) {
	clock := newFakeClock()
	b := newBalancer(clock.Now, time.Second, 8*time.Second, addrs)
	var probes []string
	b.probe = func(addr string) { probes = append(probes, addr) }
	return b, clock, &probes
}

// picks counts which member n sequential picks choose, each finished as a
// success at applied index 100.
func picks(t *testing.T, b *balancer, n int) map[string]int {
	t.Helper()
	got := make(map[string]int)
	for range n {
		addr, ok := b.pick(nil)
		if !ok {
			t.Fatal("pick found no member")
		}
		got[addr]++
		b.release(addr)
	}
	return got
}

func TestBalancer_FairWhenEqual(t *testing.T) {
	b, _, _ := testBalancer("a", "b", "c", "d")
	got := picks(t, b, 8000)
	for _, a := range []string{"a", "b", "c", "d"} {
		if got[a] < 1700 || got[a] > 2300 {
			t.Errorf("%s picked %d of 8000 times, want about 2000", a, got[a])
		}
	}
}

func TestBalancer_LagWeighsDown(t *testing.T) {
	b, _, _ := testBalancer("a", "b", "c")
	for range 20 {
		for _, a := range []string{"a", "b", "c"} {
			if addr, _ := b.pick(map[string]bool{"a": a != "a", "b": a != "b", "c": a != "c"}); addr != a {
				t.Fatalf("pick with the others skipped = %s, want %s", addr, a)
			}
		}
		b.succeeded("a", "", 100_000)
		b.succeeded("b", "", 100_000)
		b.succeeded("c", "", 90_000) // 10,000 behind
	}
	got := picks(t, b, 6000)
	if got["c"] > 6000/10 {
		t.Errorf("lagging c picked %d of 6000 times, want a small share", got["c"])
	}
	if got["c"] == 0 {
		t.Error("lagging c never picked; it must stay in the rotation")
	}
}

func TestBalancer_PrefersFewerInFlight(t *testing.T) {
	b, _, _ := testBalancer("a", "b")
	// a is busy; with two members both are always drawn, so b always wins.
	for range 5 {
		b.members["a"].inflight++
	}
	for range 100 {
		addr, _ := b.pick(nil)
		if addr != "b" {
			t.Fatalf("picked %s with 5 reads in flight on a, want b", addr)
		}
		b.release(addr)
	}
}

func TestBalancer_EjectProbeAndBackoff(t *testing.T) {
	b, clock, probes := testBalancer("a", "b")
	addr, _ := b.pick(map[string]bool{"b": true})
	d := b.failed(addr)
	if d < 750*time.Millisecond || d > 1250*time.Millisecond {
		t.Errorf("first ejection %v, want 1s ±25%%", d)
	}
	if got := picks(t, b, 50); got["a"] != 0 {
		t.Errorf("ejected a picked %d times", got["a"])
	}

	// The ejection ends: the next pick starts one probe and still avoids a.
	clock.Advance(1300 * time.Millisecond)
	if got := picks(t, b, 50); got["a"] != 0 {
		t.Errorf("a picked %d times while its probe runs", got["a"])
	}
	if !slices.Equal(*probes, []string{"a"}) {
		t.Fatalf("probes = %v, want one of a", *probes)
	}

	// The probe fails: the next ejection is twice as long; they cap at 8s.
	b.probed("a", false)
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		b.mu.Lock()
		left := b.members["a"].ejectedUntil.Sub(clock.Now())
		b.mu.Unlock()
		if left < want*3/4 || left > want*5/4 {
			t.Errorf("ejection %d lasts %v, want %v ±25%%", i+2, left, want)
		}
		clock.Advance(left)
		picks(t, b, 1)
		b.probed("a", false)
	}

	// A successful probe returns a to the rotation, weighted down until a
	// read succeeds there.
	clock.Advance(10 * time.Second)
	picks(t, b, 1)
	b.probed("a", true)
	if b.ejected("a") {
		t.Fatal("a still ejected after a good probe")
	}
	if w := b.members["a"].weight(); w >= 0.5 {
		t.Errorf("weight after a good probe = %v, want it reduced", w)
	}
	b.members["a"].inflight++
	b.succeeded("a", "n1", 5)
	if w := b.members["a"].weight(); w < 0.99 {
		t.Errorf("weight after a successful read = %v, want full", w)
	}
}

func TestBalancer_AllEjected(t *testing.T) {
	b, clock, _ := testBalancer("a", "b")
	b.members["a"].inflight++
	b.failed("a")
	clock.Advance(100 * time.Millisecond)
	b.members["b"].inflight++
	b.failed("b")
	// Both are out; the one whose ejection ends first is still used rather
	// than refusing the read.
	b.mu.Lock()
	want := "a"
	if b.members["b"].ejectedUntil.Before(b.members["a"].ejectedUntil) {
		want = "b"
	}
	b.mu.Unlock()
	if addr, ok := b.pick(nil); !ok || addr != want {
		t.Errorf("pick with every member ejected = %q, %v; want %q", addr, ok, want)
	}
	if _, ok := b.pick(map[string]bool{"a": true, "b": true}); ok {
		t.Error("pick with every member skipped succeeded")
	}
}

func TestBalancer_SetMembersKeepsState(t *testing.T) {
	b, _, _ := testBalancer("a", "b")
	b.members["a"].inflight++
	b.failed("a")
	added, removed := b.setMembers([]string{"a", "c"})
	if !slices.Equal(added, []string{"c"}) || !slices.Equal(removed, []string{"b"}) {
		t.Errorf("setMembers = +%v -%v, want +[c] -[b]", added, removed)
	}
	if !b.ejected("a") {
		t.Error("a lost its ejection across a membership refresh")
	}
	if got := slices.Sorted(maps.Keys(b.members)); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("members = %v", got)
	}
	// Reports about a removed member are ignored.
	b.succeeded("b", "", 1)
	b.failed("b")
	b.probed("b", true)
}

// TestBalancer_PreferredMember shows Config.PreferredEndpoint: the
// preferred member takes every read while healthy; when it fails the reads
// spread over the others, and it takes them all again once a probe finds it
// back.
func TestBalancer_PreferredMember(t *testing.T) {
	b, clock, probes := testBalancer("a", "b", "c")
	b.preferred = "b"
	if got := picks(t, b, 300); got["b"] != 300 {
		t.Fatalf("picks with b preferred = %v, want all 300 on b", got)
	}
	addr, _ := b.pick(map[string]bool{"b": true})
	if addr == "b" || addr == "" {
		t.Fatalf("pick with b skipped = %q, want a or c", addr)
	}
	b.release(addr)
	if addr, _ := b.pick(nil); addr != "b" {
		t.Fatalf("pick = %q, want b", addr)
	}
	b.failed("b")
	got := picks(t, b, 300)
	if got["b"] != 0 || got["a"] == 0 || got["c"] == 0 {
		t.Fatalf("picks with preferred b ejected = %v, want them spread over a and c", got)
	}
	clock.Advance(2 * time.Second) // past b's ejection (1s ±25%)
	picks(t, b, 1)
	if !slices.Contains(*probes, "b") {
		t.Fatalf("probes = %v, want b probed once its ejection ended", *probes)
	}
	b.probed("b", true)
	if got := picks(t, b, 300); got["b"] != 300 {
		t.Fatalf("picks after b is back = %v, want all 300 on b", got)
	}
}
