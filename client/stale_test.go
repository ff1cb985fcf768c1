package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// staleReads runs n sequential stale Gets and returns how many each node
// served, according to the response headers. Any failed read fails the test.
func staleReads(t *testing.T, c *Client, n int) map[string]int {
	t.Helper()
	served := make(map[string]int)
	for i := range n {
		resp, err := c.Get(testCtx(t), "k", WithConsistency(Stale))
		if err != nil {
			t.Fatalf("stale read %d of %d failed: %v", i+1, n, err)
		}
		if resp.Header.Consistency != Stale {
			t.Fatalf("read %d served at %v, want stale", i+1, resp.Header.Consistency)
		}
		served[resp.Header.NodeID]++
	}
	return served
}

func TestClient_StaleReadsSpreadAcrossMembers(t *testing.T) {
	nodes := startCluster(t, 3)
	// One endpoint is enough: the rest are learned from Members.
	c := newTestClient(t, nodes[1].addr)

	const reads = 3000
	served := staleReads(t, c, reads)
	t.Logf("served: %v", served)
	for _, n := range nodes {
		// A fair share is 1000; 800 is more than seven standard deviations
		// below it, so this does not flake, and the issue asks for 20%.
		if served[n.id] < 800 {
			t.Errorf("%s served %d of %d stale reads, want a fair share (>= 800)", n.id, served[n.id], reads)
		}
		if served[n.id] != n.count("Get") {
			t.Errorf("%s: headers say %d reads, the node saw %d", n.id, served[n.id], n.count("Get"))
		}
	}
	// Writes and linearizable reads still go to the leader only.
	for range 10 {
		if _, err := c.Get(testCtx(t), "k"); err != nil {
			t.Fatalf("linearizable Get: %v", err)
		}
	}
	if got := nodes[0].count("Get"); got != served["n1"]+10 {
		t.Errorf("leader got %d Gets, want its %d stale ones plus 10 linearizable", got, served["n1"])
	}
}

func TestClient_StaleReadsAvoidLaggingMember(t *testing.T) {
	nodes := startCluster(t, 3)
	nodes[0].setApplied(50_000)
	nodes[1].setApplied(50_000)
	nodes[2].setApplied(40_000) // 10,000 entries behind: weight ~0.09
	c := newTestClient(t, addrs(nodes...)...)

	staleReads(t, c, 100) // learn the lag
	before := nodes[2].count("Get")
	served := staleReads(t, c, 1000)
	t.Logf("served after warm-up: %v", served)
	if served["n3"] > 150 {
		t.Errorf("lagging n3 served %d of 1000 reads, want a small share", served["n3"])
	}
	if served["n3"] == 0 && nodes[2].count("Get") == before {
		t.Error("lagging n3 served no read at all; it must stay in the rotation to show it caught up")
	}

	// Once it catches up, its share recovers.
	nodes[2].setApplied(50_000)
	staleReads(t, c, 300)
	served = staleReads(t, c, 1500)
	if served["n3"] < 350 {
		t.Errorf("caught-up n3 served %d of 1500 reads, want about a third again", served["n3"])
	}
}

func TestClient_StaleReadsSurviveStoppedMember(t *testing.T) {
	nodes := startCluster(t, 3)
	c := newTestClient(t, addrs(nodes...)...)
	staleReads(t, c, 300)

	nodes[2].srv.Stop() // real connection loss
	stoppedAt := nodes[2].count("Get")
	served := staleReads(t, c, 1000) // fails the test on any failed read
	t.Logf("served with n3 stopped: %v", served)
	if served["n3"] != 0 || nodes[2].count("Get") != stoppedAt {
		t.Errorf("stopped n3 served %d reads", served["n3"])
	}
	for _, id := range []string{"n1", "n2"} {
		if served[id] < 400 {
			t.Errorf("%s served %d of 1000, want about half", id, served[id])
		}
	}
	if !c.bal.ejected(nodes[2].addr) {
		t.Error("n3 is not ejected")
	}
}

func TestClient_EjectedMemberIsProbedBack(t *testing.T) {
	nodes := startCluster(t, 3)
	n3 := nodes[2]
	clock := newFakeClock()
	c := newTestClientClock(t, Config{
		Endpoints:       addrs(nodes...),
		EjectBackoff:    time.Second,
		EjectBackoffMax: 4 * time.Second,
	}, clock.Now)
	staleReads(t, c, 60)

	// n3 fails: the read that meets it is retried elsewhere at once, and n3
	// gets no more reads while it is ejected.
	n3.down.Store(true)
	before := n3.count("Get")
	served := staleReads(t, c, 600)
	if served["n3"] != 0 || n3.count("Get") > before+1 {
		t.Fatalf("n3 got %d reads while down (served %d), want at most the one that ejected it",
			n3.count("Get")-before, served["n3"])
	}
	if !c.bal.ejected(n3.addr) {
		t.Fatal("n3 is not ejected")
	}

	// The backoff (1s ±25%) ends while n3 is still down: one probe fails and
	// the ejection doubles (2s ±25%).
	clock.Advance(1300 * time.Millisecond)
	statuses := n3.count("Status")
	staleReads(t, c, 1) // the pick notices the end of the backoff and probes
	waitFor(t, 5*time.Second, "the probe of n3 to fail", func() bool {
		c.bal.mu.Lock()
		defer c.bal.mu.Unlock()
		return !c.bal.members[n3.addr].probing
	})
	c.bal.mu.Lock()
	left := c.bal.members[n3.addr].ejectedUntil.Sub(clock.Now())
	c.bal.mu.Unlock()
	if left < 1500*time.Millisecond || left > 2500*time.Millisecond {
		t.Errorf("after a failed probe n3 is ejected for %v more, want 2s ±25%%", left)
	}
	if n3.count("Status") != statuses+1 {
		t.Errorf("n3 got %d probes, want 1", n3.count("Status")-statuses)
	}
	served = staleReads(t, c, 200)
	if served["n3"] != 0 {
		t.Errorf("n3 served %d reads while still ejected", served["n3"])
	}

	// n3 recovers; after the backoff a probe succeeds and it takes its share
	// again.
	n3.down.Store(false)
	clock.Advance(3 * time.Second)
	waitFor(t, 5*time.Second, "n3 to serve reads again", func() bool {
		return staleReads(t, c, 10)["n3"] > 0
	})
	served = staleReads(t, c, 900)
	if served["n3"] < 200 {
		t.Errorf("recovered n3 served %d of 900 reads, want about a third", served["n3"])
	}
}

func TestClient_StaleReadRetriedOnRefusal(t *testing.T) {
	for name, err := range map[string]error{
		"stale":         nil, // filled in per node below
		"shutting down": raftkvErr(codes.Unavailable, reasonShuttingDown, nil),
		"no leader":     raftkvErr(codes.Unavailable, reasonNoLeader, nil),
	} {
		t.Run(name, func(t *testing.T) {
			nodes := startCluster(t, 3)
			bad := nodes[1]
			if err == nil {
				err = staleRefusal(bad)
			}
			bad.script("Get", always(err))
			// An ejection that outlasts the test: with the default 1s a
			// loaded machine can take long enough over 300 reads for the
			// member to be probed back and asked again.
			c := newTestClientConfig(t, Config{Endpoints: addrs(nodes...), EjectBackoff: time.Hour, EjectBackoffMax: time.Hour})
			served := staleReads(t, c, 300)
			if served[bad.id] != 0 || bad.count("Get") != 1 {
				t.Errorf("refusing %s served %d reads after %d attempts, want 0 after 1", bad.id, served[bad.id], bad.count("Get"))
			}
		})
	}
}

func TestClient_StaleEverywhere(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, n := range nodes {
		n.script("Get", always(staleRefusal(n)))
	}
	c := newTestClient(t, addrs(nodes...)...)
	_, err := c.Get(testCtx(t), "k", WithMaxStaleness(time.Second))
	if !errors.Is(err, ErrStale) {
		t.Fatalf("Get error = %v, want ErrStale", err)
	}
	// ErrStale as soon as every member refused: one attempt each, no
	// backoff loop.
	for _, n := range nodes {
		if n.count("Get") != 1 {
			t.Errorf("%s got %d attempts, want exactly 1", n.id, n.count("Get"))
		}
	}
}

func TestClient_StaleReadNotRetried(t *testing.T) {
	nodes := startCluster(t, 2)
	for _, n := range nodes {
		n.script("Get", always(status.Error(codes.NotFound, "key not found")))
	}
	c := newTestClient(t, addrs(nodes...)...)
	if _, err := c.Get(testCtx(t), "k", WithConsistency(Stale)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get error = %v, want ErrNotFound", err)
	}
	if got := nodes[0].count("Get") + nodes[1].count("Get"); got != 1 {
		t.Errorf("got %d attempts, want 1", got)
	}
}

func TestClient_StaleReadHangingMember(t *testing.T) {
	nodes := startCluster(t, 2)
	nodes[0].script("Get", hang)
	nodes[1].script("Get", hang)
	c := newTestClientConfig(t, Config{Endpoints: addrs(nodes...), DialTimeout: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 1600*time.Millisecond)
	defer cancel()
	// Each attempt is cut at DialTimeout + 1s = 1.1s, so the second member
	// is tried before the caller's deadline instead of the first hanging
	// member using it all.
	_, err := c.Get(ctx, "k", WithConsistency(Stale))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get error = %v, want DeadlineExceeded", err)
	}
	if nodes[0].count("Get") < 1 || nodes[1].count("Get") < 1 {
		t.Errorf("attempts: n1 %d, n2 %d; want both members tried", nodes[0].count("Get"), nodes[1].count("Get"))
	}
}

func TestClient_DegradedReads(t *testing.T) {
	nodes := startCluster(t, 3)
	lost := time.Now().Add(-time.Hour)
	for _, n := range nodes {
		n.setDegraded(true)
		// Linearizable reads fail with NO_QUORUM; stale ones are served.
		n.script("Get", func(context.Context, int) error {
			if ro := n.lastRead(); ro.GetConsistency() == 0 || ro.GetConsistency() == 1 {
				return noQuorum(n, lost)
			}
			return nil
		})
	}
	c := newTestClient(t, addrs(nodes...)...)

	_, err := c.Get(testCtx(t), "k")
	var nq *NoQuorumError
	if !errors.Is(err, ErrNoQuorum) || !errors.As(err, &nq) {
		t.Fatalf("linearizable Get error = %v, want ErrNoQuorum", err)
	}

	resp, err := c.Get(testCtx(t), "k", WithDegradedReads())
	if err != nil {
		t.Fatalf("Get with degraded reads: %v", err)
	}
	if resp.Header.Consistency != Stale || !resp.Header.Degraded {
		t.Errorf("degraded answer header = %+v, want Consistency stale and Degraded", resp.Header)
	}
	// A plain stale read works too, and says it was degraded.
	resp, err = c.Get(testCtx(t), "k", WithConsistency(Stale))
	if err != nil || !resp.Header.Degraded {
		t.Errorf("stale Get = %+v, %v; want a degraded answer", resp, err)
	}
}
