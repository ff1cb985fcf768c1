package client

import (
	"errors"
	"testing"
	"time"

	"github.com/raftkv/raftkv/proto/kvpb"
)

func TestClient_NoQuorumWriteFailsFast(t *testing.T) {
	nodes := startCluster(t, 3)
	lost := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) // long ago: no election is under way
	for _, n := range nodes {
		n.setDegraded(true)
		n.script("Put", always(noQuorum(n, lost)))
		n.script("Delete", always(noQuorum(n, lost)))
		n.script("Get", always(noQuorum(n, lost)))
	}
	c := newTestClient(t, addrs(nodes...)...)
	if _, err := c.Members(testCtx(t)); err != nil { // learn the leader n1
		t.Fatalf("Members: %v", err)
	}

	calls := map[string]func() error{
		"Put": func() error { _, err := c.Put(testCtx(t), "k", []byte("v")); return err },
		"Delete": func() error {
			_, err := c.Delete(testCtx(t), "k")
			return err
		},
		"Get": func() error { _, err := c.Get(testCtx(t), "k"); return err },
	}
	for method, call := range calls {
		t.Run(method, func(t *testing.T) {
			start := time.Now()
			err := call()
			elapsed := time.Since(start)
			var nq *NoQuorumError
			if !errors.Is(err, ErrNoQuorum) || !errors.As(err, &nq) {
				t.Fatalf("%s error = %v, want ErrNoQuorum", method, err)
			}
			if nq.NodeID == "" || !nq.Since.Equal(lost) {
				t.Errorf("NoQuorumError = %+v, want a node and since %v", nq, lost)
			}
			if errors.Is(err, ErrOutcomeUnknown) {
				t.Errorf("%s error wraps ErrOutcomeUnknown, but nothing was proposed", method)
			}
			if elapsed > 500*time.Millisecond {
				t.Errorf("%s failed after %v, want well under a second", method, elapsed)
			}
			for _, n := range nodes {
				if got := n.count(method); got != 1 {
					t.Errorf("%s got %d %s attempts, want exactly 1 (each member once)", n.id, got, method)
				}
			}
		})
	}
}

func TestClient_NoQuorumOnMinorityMember(t *testing.T) {
	// The client believes n1 leads, but n1 is cut off; n2 and n3 still have
	// a quorum, and n2 forwards writes to the leader n3.
	nodes := startCluster(t, 3)
	n1 := nodes[0]
	c := newTestClient(t, addrs(nodes...)...)
	if _, err := c.Members(testCtx(t)); err != nil {
		t.Fatalf("Members: %v", err)
	}
	if c.Leader() != n1.addr {
		t.Fatalf("Leader() = %q, want n1", c.Leader())
	}
	n1.setDegraded(true)
	n1.script("Put", always(noQuorum(n1, time.Now().Add(-time.Minute))))
	nodes[1].setLeader(nodes[2].addr)
	nodes[2].setLeader(nodes[2].addr)

	resp, err := c.Put(testCtx(t), "k", []byte("v"))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if resp.Header.NodeID == "n1" || n1.count("Put") != 1 {
		t.Errorf("Put served by %s after %d attempts on n1, want another member after 1", resp.Header.NodeID, n1.count("Put"))
	}
	if c.Leader() != nodes[2].addr {
		t.Errorf("Leader() = %q, want n3 at %q", c.Leader(), nodes[2].addr)
	}
}

func TestClient_NoQuorumDuringElection(t *testing.T) {
	// Every member has only just lost its leader (since = now): an election
	// may be under way, so the client keeps trying until one succeeds.
	nodes := startCluster(t, 3)
	for _, n := range nodes {
		n.script("Put", failFirst(2, noQuorum(n, time.Now())))
	}
	c := newTestClientConfig(t, Config{Endpoints: addrs(nodes...), NoQuorumGrace: 5 * time.Second})
	if _, err := c.Put(testCtx(t), "k", []byte("v")); err != nil {
		t.Fatalf("Put: %v", err)
	}

	// With the grace turned off the same answers fail at once.
	nodes = startCluster(t, 3)
	for _, n := range nodes {
		n.script("Put", failFirst(2, noQuorum(n, time.Now())))
	}
	c = newTestClientConfig(t, Config{Endpoints: addrs(nodes...), NoQuorumGrace: -1})
	if _, err := c.Put(testCtx(t), "k", []byte("v")); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("Put without grace: error = %v, want ErrNoQuorum", err)
	}
}

func TestClient_NoQuorumGraceIsBounded(t *testing.T) {
	nodes := startCluster(t, 3)
	lost := time.Now()
	for _, n := range nodes {
		n.script("Put", always(noQuorum(n, lost)))
	}
	const grace = 300 * time.Millisecond
	c := newTestClientConfig(t, Config{Endpoints: addrs(nodes...), NoQuorumGrace: grace})
	start := time.Now()
	_, err := c.Put(testCtx(t), "k", []byte("v")) // testCtx allows 10s
	elapsed, sinceLoss := time.Since(start), time.Since(lost)
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("Put error = %v, want ErrNoQuorum", err)
	}
	// The grace counts from the loss, and the client gives up right after.
	if sinceLoss < grace || elapsed > grace+700*time.Millisecond {
		t.Errorf("Put failed %v after the loss (%v after it started), want just after the %v grace", sinceLoss, elapsed, grace)
	}
}

func TestClient_NoQuorumFromDiscovery(t *testing.T) {
	// A new client whose only endpoint is a degraded node that knows no
	// leader: it must not wait for a leader until its deadline.
	nodes := startCluster(t, 3)
	lost := time.Now().Add(-time.Minute)
	var ms []*kvpb.Member
	for _, n := range nodes {
		ms = append(ms, &kvpb.Member{Id: n.id, GrpcAddr: n.addr, Voter: true})
	}
	for _, n := range nodes {
		n.setLeader("")
		n.setDegraded(true)
		n.setMembers(ms...)
		n.script("Put", always(noQuorum(n, lost)))
	}
	c := newTestClient(t, nodes[0].addr)
	start := time.Now()
	_, err := c.Put(testCtx(t), "k", []byte("v"))
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("Put error = %v, want ErrNoQuorum", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Put failed after %v, want promptly", elapsed)
	}
	for _, n := range nodes {
		if n.count("Put") != 1 {
			t.Errorf("%s got %d Puts, want 1", n.id, n.count("Put"))
		}
	}
}

func TestClient_DegradedHeaderIsNoLeaderHint(t *testing.T) {
	n := startFake(t, "n1")
	n.setDegraded(true)
	n.setLeader("10.0.0.9:1") // the leader it lost
	c := newTestClient(t, n.addr)
	if _, err := c.Get(testCtx(t), "k", WithConsistency(Stale)); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if c.Leader() != "" {
		t.Errorf("Leader() = %q after a degraded answer, want unknown", c.Leader())
	}
}

func TestNoQuorumError(t *testing.T) {
	since := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	err := error(&NoQuorumError{NodeID: "n2", Since: since})
	if !errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrNoLeader) {
		t.Errorf("errors.Is mismatch for %v", err)
	}
	if got, want := err.Error(), "no quorum: node n2 has had no leader since 2026-11-28T15:00:00Z"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (&NoQuorumError{NodeID: "n3"}).Error(); got != "no quorum: node n3 has not seen a leader since it started" {
		t.Errorf("Error() without since = %q", got)
	}
	f := classify("a:1", raftkvErr(2, reasonNoQuorum, nil))
	if nq := f.noQuorum(); nq.NodeID != "a:1" || !nq.Since.IsZero() {
		t.Errorf("noQuorum without metadata = %+v, want the address and no since", nq)
	}
}
