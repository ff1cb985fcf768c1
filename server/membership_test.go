package server_test

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
)

// requestsHandled sums raftkv_grpc_server_handled_total on one node's
// registry: every request that node's gRPC server actually handled.
func requestsHandled(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	return counterSum(t, reg, "raftkv_grpc_server_handled_total", nil)
}

// membersByID lists the members as the client sees them, by id.
func membersByID(t *testing.T, cl *client.Client) map[string]client.Member {
	t.Helper()
	ms, err := cl.Members(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatalf("members: %v", err)
	}
	out := map[string]client.Member{}
	for _, m := range ms {
		out[m.ID] = m
	}
	return out
}

// TestMembership_NonvoterReadReplicaDiscovery is the discovery scenario of
// issue #6: a client that knows only n1 starts serving stale reads from a
// non-voter n4 within its refresh interval of n4 joining, writes and
// linearizable reads sent to n4 are forwarded, and once n2 is removed no
// request reaches n2 any more (counted by n2's own gRPC server).
func TestMembership_NonvoterReadReplicaDiscovery(t *testing.T) {
	regs := map[string]*prometheus.Registry{}
	tweak := func(cfg *server.Config) {
		cfg.Registry = prometheus.NewRegistry()
		regs[cfg.NodeID] = cfg.Registry
	}
	c := servertest.StartCluster(t, 3, tweak)
	const refresh = 500 * time.Millisecond
	cl, err := client.New(client.Config{Endpoints: c.Endpoints()[:1], DialTimeout: time.Second, MemberRefresh: refresh})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	ctx := ctxTimeout(t, time.Minute)
	if _, err := cl.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	stale := func() string {
		t.Helper()
		got, err := cl.Get(ctx, "k", client.WithConsistency(client.Stale))
		if err != nil {
			t.Fatalf("stale read: %v", err)
		}
		return got.Header.NodeID
	}
	stale() // the client learns n1..n3

	n4 := c.Join(func(cfg *server.Config) { tweak(cfg); cfg.NonVoter = true })
	c.WaitRegistered(10 * time.Second)
	registered := time.Now()
	m4 := membersByID(t, newClient(t, c.Endpoints()[0]))["n4"]
	if m4.Voter || m4.GRPCAddr != c.Config(n4).GRPCAddr {
		t.Fatalf("n4 listed as %+v, want a non-voter at %s", m4, c.Config(n4).GRPCAddr)
	}
	servertest.WaitFor(t, 2*refresh+time.Second, "a stale read served by n4", func() bool { return stale() == "n4" })
	t.Logf("n4 served a stale read %v after it registered (refresh %v)", time.Since(registered).Round(time.Millisecond), refresh)
	if st := c.Node(n4).Node().Status(); st.Voter || st.AppliedIndex == 0 {
		t.Fatalf("n4 status %+v, want a non-voter that replicated", st)
	}

	// Writes and linearizable reads sent to the non-voter are forwarded.
	conn, err := grpc.NewClient(c.Config(n4).GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	kv := kvpb.NewKVClient(conn)
	if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("via-n4"), Value: []byte("x")}); err != nil {
		t.Fatalf("put through n4: %v", err)
	}
	got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("via-n4")})
	if err != nil || string(got.GetKv().GetValue()) != "x" {
		t.Fatalf("linearizable get through n4 = %v, %v", got, err)
	}
	if got.GetHeader().GetNodeId() == "n4" {
		t.Fatalf("linearizable read served by the non-voter itself, want the leader")
	}

	// Remove n2; once the client has the new membership, n2 gets nothing.
	if c.Leader(leaderWait) == 1 {
		if err := cl.TransferLeadership(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		c.Leader(leaderWait)
	}
	if err := cl.RemoveMember(ctx, "n2"); err != nil {
		t.Fatalf("remove n2: %v", err)
	}
	if _, ok := membersByID(t, cl)["n2"]; ok {
		t.Fatal("n2 still listed after its removal")
	}
	before := requestsHandled(t, regs["n2"])
	served := map[string]int{}
	for range 300 {
		served[stale()]++
	}
	for range 20 {
		if _, err := cl.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Put(ctx, "k", []byte("v2")); err != nil {
			t.Fatal(err)
		}
	}
	// Let a few membership refreshes happen too.
	deadline := time.Now().Add(3 * refresh)
	servertest.WaitFor(t, 5*refresh, "three refresh intervals", func() bool { return time.Now().After(deadline) })
	if after := requestsHandled(t, regs["n2"]); after != before {
		t.Errorf("n2 handled %v requests after its removal", after-before)
	}
	if served["n2"] != 0 || served["n4"] == 0 {
		t.Errorf("stale reads after removing n2 served by %v, want none by n2 and some by n4", served)
	}
}

// TestMembership_AutoPromotion: with a target of three voters, two
// non-voters that join a one-node cluster are promoted once caught up and
// stable; a third stays a non-voter.
func TestMembership_AutoPromotion(t *testing.T) {
	pilot := func(cfg *server.Config) {
		cfg.Autopilot.TargetVoters = 3
		cfg.Autopilot.StabilizationTime = 500 * time.Millisecond
		cfg.Autopilot.Interval = 100 * time.Millisecond
	}
	c := servertest.StartCluster(t, 1, pilot)
	nonvoter := func(cfg *server.Config) { pilot(cfg); cfg.NonVoter = true }
	c.Join(nonvoter)
	c.Join(nonvoter)
	cl := newClient(t, c.Endpoints()[0])
	servertest.WaitFor(t, 15*time.Second, "n2 and n3 promoted to voters", func() bool {
		ms := membersByID(t, cl)
		return len(ms) == 3 && ms["n2"].Voter && ms["n3"].Voter
	})
	n4 := c.Join(nonvoter)
	c.WaitRegistered(10 * time.Second)
	// Give the autopilot several stabilization periods to do the wrong thing.
	deadline := time.Now().Add(2 * time.Second)
	servertest.WaitFor(t, 5*time.Second, "two seconds", func() bool { return time.Now().After(deadline) })
	if m := membersByID(t, cl)["n4"]; m.Voter || c.Node(n4).Node().Status().Voter {
		t.Fatalf("n4 promoted beyond the target of three voters: %+v", m)
	}
}

// TestMembership_DeadMemberCleanup: a stopped non-voter and a stopped
// voter are removed after DeadMemberTimeout; the two remaining voters keep
// serving writes.
func TestMembership_DeadMemberCleanup(t *testing.T) {
	pilot := func(cfg *server.Config) {
		cfg.Autopilot.DeadMemberTimeout = time.Second
		cfg.Autopilot.Interval = 100 * time.Millisecond
	}
	c := servertest.StartCluster(t, 3, pilot)
	n4 := c.Join(func(cfg *server.Config) { pilot(cfg); cfg.NonVoter = true })
	c.WaitRegistered(10 * time.Second)
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	followerID := c.Node(follower).ID()
	c.Stop(n4)
	c.Stop(follower)
	cl := newClient(t, c.Endpoints()[leader])
	servertest.WaitFor(t, 15*time.Second, "n4 and "+followerID+" removed", func() bool {
		ms := membersByID(t, cl)
		_, f := ms[followerID]
		_, n := ms["n4"]
		return len(ms) == 2 && !f && !n
	})
	if _, err := cl.Put(ctxTimeout(t, 10*time.Second), "after", []byte("cleanup")); err != nil {
		t.Fatalf("put after cleanup: %v", err)
	}
}

// TestMembership_LeaveOnTerminate: a leader and then a follower stopped
// with LeaveOnTerminate hand off leadership and leave the configuration.
func TestMembership_LeaveOnTerminate(t *testing.T) {
	c := servertest.StartCluster(t, 3, func(cfg *server.Config) {
		cfg.LeaveOnTerminate = true
		cfg.HandOffLeadership = true
	})
	leader := c.Leader(leaderWait)
	leaderID := c.Node(leader).ID()
	c.Stop(leader)
	rest := []int{(leader + 1) % 3, (leader + 2) % 3}
	cl := newClient(t, c.Endpoints()[rest[0]], c.Endpoints()[rest[1]])
	ms := membersByID(t, cl)
	if _, ok := ms[leaderID]; ok || len(ms) != 2 {
		t.Fatalf("members after the leader left: %v, want two without %s", ms, leaderID)
	}
	newLeader := c.Leader(leaderWait)
	follower := rest[0]
	if follower == newLeader {
		follower = rest[1]
	}
	followerID := c.Node(follower).ID()
	c.Stop(follower)
	ms = membersByID(t, cl)
	if _, ok := ms[followerID]; ok || len(ms) != 1 {
		t.Fatalf("members after a follower left: %v, want only %s", ms, c.Node(newLeader).ID())
	}
	if _, err := cl.Put(ctxTimeout(t, 10*time.Second), "alone", []byte("ok")); err != nil {
		t.Fatalf("put on the one remaining voter: %v", err)
	}
}

// TestMembership_TransferLeadershipTo hands leadership to each follower in
// turn by id.
func TestMembership_TransferLeadershipTo(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	cl := newClient(t, c.Endpoints()...)
	ctx := ctxTimeout(t, time.Minute)
	for range 2 {
		leader := c.Leader(leaderWait)
		target := c.Node((leader + 2) % 3).ID()
		if err := cl.TransferLeadership(ctx, target); err != nil {
			t.Fatalf("transfer to %s: %v", target, err)
		}
		if got := c.Node(c.Leader(leaderWait)).ID(); got != target {
			t.Fatalf("leader after transfer = %s, want %s", got, target)
		}
		if _, err := cl.Put(ctx, "k", []byte(target)); err != nil {
			t.Fatalf("put after transfer: %v", err)
		}
	}
}

// TestMembership_BadInputChangesNothing sends every kind of bad membership
// request, through a non-voter (so each is forwarded), and checks the
// error and that the configuration and log are unchanged.
func TestMembership_BadInputChangesNothing(t *testing.T) {
	c := servertest.StartCluster(t, 1, nil)
	n2 := c.Join(func(cfg *server.Config) { cfg.NonVoter = true })
	c.WaitRegistered(10 * time.Second)
	cl := newClient(t, c.Config(n2).GRPCAddr)
	ctx := ctxTimeout(t, time.Minute)
	before := membersByID(t, cl)
	lastIndex := c.Node(0).Node().Status().LastLogIndex
	n1 := c.Config(0)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"remove unknown", func() error { return cl.RemoveMember(ctx, "n9") }, client.ErrUnknownMember},
		{"promote unknown", func() error { return cl.PromoteMember(ctx, "n9") }, client.ErrUnknownMember},
		{"transfer to unknown", func() error { return cl.TransferLeadership(ctx, "n9") }, client.ErrUnknownMember},
		{"remove empty id", func() error { return cl.RemoveMember(ctx, "") }, client.ErrInvalidArgument},
		{"promote empty id", func() error { return cl.PromoteMember(ctx, "") }, client.ErrInvalidArgument},
		{"add without addresses", func() error { return cl.AddMember(ctx, "n5", "", "", false) }, client.ErrInvalidArgument},
		{"remove the last voter", func() error { return cl.RemoveMember(ctx, "n1") }, client.ErrMembershipRefused},
		{"transfer to a non-voter", func() error { return cl.TransferLeadership(ctx, "n2") }, client.ErrMembershipRefused},
		{"demote a voter", func() error {
			return cl.AddMember(ctx, "n1", c.Node(0).Node().RaftAddr(), n1.GRPCAddr, true)
		}, client.ErrMembershipRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			t.Logf("%s: %v", tt.name, err)
		})
	}
	after := membersByID(t, cl)
	if len(after) != len(before) {
		t.Fatalf("members changed: %v -> %v", before, after)
	}
	for id, m := range before {
		if a := after[id]; a.Voter != m.Voter || a.RaftAddr != m.RaftAddr {
			t.Errorf("member %s changed: %+v -> %+v", id, m, a)
		}
	}
	if got := c.Node(0).Node().Status().LastLogIndex; got != lastIndex {
		t.Errorf("refused requests appended log entries: %d -> %d", lastIndex, got)
	}
}
