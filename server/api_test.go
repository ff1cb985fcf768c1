package server_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/server/servertest"
)

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// TestAPI_FollowerForwardsToLeader shows that a raw gRPC caller that knows
// only a follower can write and read: the follower forwards to the leader.
func TestAPI_FollowerForwardsToLeader(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[follower]))
	ctx := ctxTimeout(t, 10*time.Second)

	put, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("fwd"), Value: []byte("yes")})
	if err != nil {
		t.Fatalf("put via follower: %v", err)
	}
	if put.GetHeader().GetNodeId() != c.Node(leader).ID() || put.GetIndex() == 0 {
		t.Fatalf("put header %+v index %d: want served by leader %s", put.GetHeader(), put.GetIndex(), c.Node(leader).ID())
	}
	get, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("fwd")})
	if err != nil || string(get.GetKv().GetValue()) != "yes" {
		t.Fatalf("get via follower = %v, %v", get, err)
	}
	if get.GetHeader().GetLeaderAddr() != c.Endpoints()[leader] {
		t.Fatalf("leader_addr = %q, want %q", get.GetHeader().GetLeaderAddr(), c.Endpoints()[leader])
	}

	st, err := kvpb.NewClusterClient(dial(t, c.Endpoints()[follower])).Status(ctx, &kvpb.StatusRequest{})
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if st.GetId() != c.Node(follower).ID() || st.GetRole() != "follower" || st.GetTerm() == 0 || st.GetCommitIndex() == 0 {
		t.Fatalf("status of follower = %+v", st)
	}
}

// TestAPI_RejectsBadInputBeforeRaft checks the limits: each bad request gets
// InvalidArgument with a message naming the limit, and the raft log does
// not grow.
func TestAPI_RejectsBadInputBeforeRaft(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[leader]))
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("ok"), Value: []byte("v")}); err != nil {
		t.Fatalf("put: %v", err)
	}
	lastIndex := c.Node(leader).Node().Status().LastLogIndex

	tests := []struct {
		name    string
		call    func() error
		mention string
	}{
		{"empty key", func() error { _, err := kv.Put(ctx, &kvpb.PutRequest{Value: []byte("v")}); return err }, "empty"},
		{"key over 4 KiB", func() error {
			_, err := kv.Put(ctx, &kvpb.PutRequest{Key: bytes.Repeat([]byte("k"), 4097), Value: []byte("v")})
			return err
		}, "4096"},
		{"value over 1 MiB", func() error {
			_, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("k"), Value: make([]byte, 1<<20+1)})
			return err
		}, "1048576"},
		{"delete empty key", func() error { _, err := kv.Delete(ctx, &kvpb.DeleteRequest{}); return err }, "empty"},
		{"get key over 4 KiB", func() error {
			_, err := kv.Get(ctx, &kvpb.GetRequest{Key: bytes.Repeat([]byte("k"), 4097)})
			return err
		}, "4096"},
		{"negative list limit", func() error { _, err := kv.List(ctx, &kvpb.ListRequest{Limit: -1}); return err }, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", st.Code(), err)
			}
			if !strings.Contains(st.Message(), tt.mention) {
				t.Fatalf("message %q does not mention %q", st.Message(), tt.mention)
			}
		})
	}
	if got := c.Node(leader).Node().Status().LastLogIndex; got != lastIndex {
		t.Fatalf("raft last log index moved from %d to %d on rejected requests", lastIndex, got)
	}
	// Limits are inclusive: exactly 4 KiB keys and 1 MiB values are accepted.
	if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: bytes.Repeat([]byte("k"), 4096), Value: make([]byte, 1<<20)}); err != nil {
		t.Fatalf("put at the limits: %v", err)
	}
}

// TestAPI_HealthIsTruthful: every node serves once a leader is known, the
// leader service only on the leader, and a missing key is NotFound.
func TestAPI_HealthIsTruthful(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	ctx := ctxTimeout(t, 10*time.Second)
	for i := range 3 {
		h := healthpb.NewHealthClient(dial(t, c.Endpoints()[i]))
		servertest.WaitFor(t, 5*time.Second, "node health SERVING", func() bool {
			r, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: rpc.OverallService})
			return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
		})
		want := healthpb.HealthCheckResponse_NOT_SERVING
		if i == leader {
			want = healthpb.HealthCheckResponse_SERVING
		}
		servertest.WaitFor(t, 5*time.Second, "leader health "+want.String(), func() bool {
			r, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: rpc.LeaderService})
			return err == nil && r.GetStatus() == want
		})
	}
	_, err := kvpb.NewKVClient(dial(t, c.Endpoints()[leader])).Get(ctx, &kvpb.GetRequest{Key: []byte("missing")})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("get missing key: %v, want NotFound", err)
	}
}
