package client

import (
	"slices"
	"testing"
	"time"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// memberList is a Members answer listing nodes, the first as leader.
func memberList(nodes ...*fakeNode) []*kvpb.Member {
	var ms []*kvpb.Member
	for i, n := range nodes {
		ms = append(ms, &kvpb.Member{Id: n.id, GrpcAddr: n.addr, Voter: true, Leader: i == 0})
	}
	return ms
}

func TestClient_MemberRefresh(t *testing.T) {
	nodes := startCluster(t, 4)
	n1, n2, n3, n4 := nodes[0], nodes[1], nodes[2], nodes[3]
	for _, n := range nodes {
		n.setMembers(memberList(n1, n2, n3)...)
	}
	c := newTestClientConfig(t, Config{Endpoints: []string{n1.addr}, MemberRefresh: 20 * time.Millisecond})

	// The first stale read learns the membership from the one endpoint.
	staleReads(t, c, 1)
	if got, want := c.bal.addrs(), sortedAddrs(n1, n2, n3); !slices.Equal(got, want) {
		t.Fatalf("members after the first read = %v, want %v", got, want)
	}

	// n4 joins and n3 leaves; the periodic refresh notices both.
	for _, n := range nodes {
		n.setMembers(memberList(n1, n2, n4)...)
	}
	want := sortedAddrs(n1, n2, n4)
	waitFor(t, 5*time.Second, "the refresh to pick up n4 and drop n3", func() bool {
		return slices.Equal(c.bal.addrs(), want)
	})
	c.mu.Lock()
	candidates := c.candidatesLocked()
	_, n3conn := c.conns[n3.addr]
	c.mu.Unlock()
	if slices.Contains(candidates, n3.addr) || !slices.Contains(candidates, n4.addr) {
		t.Errorf("failover candidates = %v, want n4 and not n3", candidates)
	}
	if n3conn {
		t.Error("the connection to the removed n3 is still open")
	}

	before := n3.count("Get")
	served := staleReads(t, c, 600)
	if served["n3"] != 0 || n3.count("Get") != before {
		t.Errorf("removed n3 served %d reads", served["n3"])
	}
	if served["n4"] < 120 {
		t.Errorf("added n4 served %d of 600 reads, want about a third", served["n4"])
	}
}

func TestClient_MemberRefreshAfterFailure(t *testing.T) {
	// Periodic refresh is off; a failed read still triggers one.
	nodes := startCluster(t, 3)
	c := newTestClientConfig(t, Config{Endpoints: addrs(nodes...), MemberRefresh: -1})
	staleReads(t, c, 30)
	calls := nodes[0].count("Members") + nodes[1].count("Members") + nodes[2].count("Members")

	nodes[2].down.Store(true)
	for _, n := range nodes {
		n.setMembers(memberList(nodes[0], nodes[1])...)
	}
	staleReads(t, c, 30)
	waitFor(t, 5*time.Second, "a refresh after the failure", func() bool {
		return slices.Equal(c.bal.addrs(), sortedAddrs(nodes[0], nodes[1]))
	})
	after := nodes[0].count("Members") + nodes[1].count("Members") + nodes[2].count("Members")
	if after <= calls {
		t.Error("no Members call after the failure")
	}
}

func TestClient_MembersWithoutAddressRefreshedSoon(t *testing.T) {
	nodes := startCluster(t, 2)
	partial := memberList(nodes...)
	partial[1].GrpcAddr = "" // n2 has not registered its address yet
	nodes[0].setMembers(partial...)
	c := newTestClientConfig(t, Config{Endpoints: []string{nodes[0].addr}, MemberRefresh: time.Hour})
	if _, err := c.Members(testCtx(t)); err != nil {
		t.Fatalf("Members: %v", err)
	}
	if got := c.bal.addrs(); !slices.Equal(got, []string{nodes[0].addr}) {
		t.Fatalf("members = %v, want n1 only", got)
	}
	nodes[0].setMembers(memberList(nodes...)...) // n2 registers
	waitFor(t, 5*time.Second, "n2's address to be learned", func() bool {
		return slices.Equal(c.bal.addrs(), sortedAddrs(nodes...))
	})
}

func TestClient_CloseStopsRefresh(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClientConfig(t, Config{Endpoints: []string{n.addr}, MemberRefresh: 5 * time.Millisecond})
	waitFor(t, 5*time.Second, "periodic refreshes", func() bool { return n.count("Members") >= 2 })
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close waited for the refresh goroutine: no call starts after it.
	after := n.count("Members")
	for range 3 {
		c.kickRefresh() // harmless after Close
	}
	if _, err := c.Get(testCtx(t), "k", WithConsistency(Stale)); err == nil {
		t.Error("stale Get after Close succeeded")
	}
	if got := n.count("Members"); got != after {
		t.Errorf("Members calls went on after Close: %d, then %d", after, got)
	}
}

// sortedAddrs returns the nodes' addresses, sorted.
func sortedAddrs(nodes ...*fakeNode) []string {
	out := addrs(nodes...)
	slices.Sort(out)
	return out
}
