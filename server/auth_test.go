package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
	"github.com/raftkv/raftkv/store"
)

const (
	readToken  = "read-token-0123456789"
	writeToken = "write-token-0123456789"
	adminToken = "admin-token-0123456789"
	nodeToken  = "node-token-0123456789"
)

// startAuthCluster starts 3 nodes with auth on. Every node registers its
// address with the leader through Join, which needs admin, using its node
// token: StartCluster returning at all shows node-to-node calls work.
func startAuthCluster(t *testing.T) (*servertest.Cluster, string) {
	t.Helper()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	nodeTok := filepath.Join(dir, "node.token")
	writeFile(t, tokens, `{"tokens": [
		{"name": "reader", "role": "read",  "token": "`+readToken+`"},
		{"name": "writer", "role": "write", "token": "`+writeToken+`"},
		{"name": "root",   "role": "admin", "token": "`+adminToken+`"},
		{"name": "nodes",  "role": "admin", "token": "`+nodeToken+`"}
	]}`)
	writeFile(t, nodeTok, nodeToken+"\n")
	c := servertest.StartCluster(t, 3, func(cfg *server.Config) {
		cfg.AuthTokenFile = tokens
		cfg.NodeTokenFile = nodeTok
	})
	return c, tokens
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// TestAuth_Tokens checks every auth outcome over raw gRPC, through a
// follower so that forwarded writes are covered.
func TestAuth_Tokens(t *testing.T) {
	c, _ := startAuthCluster(t)
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	cc := dial(t, c.Endpoints()[follower])
	kv := kvpb.NewKVClient(cc)
	ctx := ctxTimeout(t, 30*time.Second)
	put := &kvpb.PutRequest{Key: []byte("k"), Value: []byte("v")}

	tests := []struct {
		name string
		ctx  context.Context
		call func(context.Context) error
		code codes.Code
	}{
		{"no token", ctx, func(ctx context.Context) error { _, err := kv.Put(ctx, put); return err }, codes.Unauthenticated},
		{"wrong token", bearer(ctx, "not-a-known-token-000"), func(ctx context.Context) error { _, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("k")}); return err }, codes.Unauthenticated},
		{"not a bearer header", metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+writeToken), func(ctx context.Context) error { _, err := kv.Put(ctx, put); return err }, codes.Unauthenticated},
		{"read token writing", bearer(ctx, readToken), func(ctx context.Context) error { _, err := kv.Put(ctx, put); return err }, codes.PermissionDenied},
		{"read token deleting", bearer(ctx, readToken), func(ctx context.Context) error {
			_, err := kv.Delete(ctx, &kvpb.DeleteRequest{Key: []byte("k")})
			return err
		}, codes.PermissionDenied},
		{"write token joining", bearer(ctx, writeToken), func(ctx context.Context) error {
			_, err := kvpb.NewClusterClient(cc).Join(ctx, &kvpb.JoinRequest{Id: "n9", RaftAddr: "127.0.0.1:1", GrpcAddr: "127.0.0.1:2"})
			return err
		}, codes.PermissionDenied},
		{"read token status", bearer(ctx, readToken), func(ctx context.Context) error {
			_, err := kvpb.NewClusterClient(cc).Status(ctx, &kvpb.StatusRequest{})
			return err
		}, codes.OK},
		{"health without token", ctx, func(ctx context.Context) error {
			_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(tt.ctx)
			if status.Code(err) != tt.code {
				t.Fatalf("got %v, want %v", err, tt.code)
			}
			if err != nil && strings.Contains(status.Convert(err).Message(), "token-0123456789") {
				t.Errorf("message echoes a token: %v", err)
			}
		})
	}
	for i := range c.Size() {
		if _, _, err := c.Node(i).Store().GetAt([]byte("k")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("node %d holds k after refused writes: %v", i, err)
		}
	}

	// A write token works through the follower, which forwards the
	// caller's token to the leader.
	if _, err := kv.Put(bearer(ctx, writeToken), put); err != nil {
		t.Fatalf("Put with write token via follower: %v", err)
	}
	got, err := kv.Get(bearer(ctx, readToken), &kvpb.GetRequest{Key: []byte("k")})
	if err != nil || string(got.GetKv().GetValue()) != "v" {
		t.Fatalf("Get with read token = %v, %v", got, err)
	}
}

// TestAuth_ClientTokenAndReload uses the Go client's Token and reloads the
// token file: a token removed from the file stops working.
func TestAuth_ClientTokenAndReload(t *testing.T) {
	c, tokens := startAuthCluster(t)
	ctx := ctxTimeout(t, 30*time.Second)

	anon := newClient(t, c.Endpoints()...)
	if _, err := anon.Put(ctx, "k", []byte("v")); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("Put without token = %v, want ErrUnauthenticated", err)
	}
	reader, err := client.New(client.Config{Endpoints: c.Endpoints(), Token: readToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Close() })
	if _, err := reader.Put(ctx, "k", []byte("v")); !errors.Is(err, client.ErrPermissionDenied) {
		t.Fatalf("Put with read token = %v, want ErrPermissionDenied", err)
	}
	writer, err := client.New(client.Config{Endpoints: c.Endpoints(), Token: writeToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Close() })
	if _, err := writer.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put with write token: %v", err)
	}

	// Drop the writer from the file and reload every node.
	writeFile(t, tokens, `{"tokens": [{"name": "nodes", "role": "admin", "token": "`+nodeToken+`"}]}`)
	for i := range c.Size() {
		if err := c.Node(i).ReloadTokens(); err != nil {
			t.Fatalf("reload node %d: %v", i, err)
		}
	}
	if _, err := writer.Put(ctx, "k", []byte("v2")); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("Put with a removed token = %v, want ErrUnauthenticated", err)
	}
	// A broken file keeps the previous tokens in force.
	writeFile(t, tokens, `{"tokens": [`)
	if err := c.Node(0).ReloadTokens(); err == nil {
		t.Fatal("reload of a broken token file succeeded")
	}
}

// TestAuth_NodeOwnCalls: with auth on, the calls a node makes for itself
// carry its node token. The leader's autopilot probes a non-voter's Status
// (read) before promoting it, and a follower leaving on SIGTERM has its own
// RemoveMember (admin) forwarded to the leader; both used to go out without
// a token and be refused.
func TestAuth_NodeOwnCalls(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	nodeTok := filepath.Join(dir, "node.token")
	writeFile(t, tokens, `{"tokens": [
		{"name": "root",  "role": "admin", "token": "`+adminToken+`"},
		{"name": "nodes", "role": "admin", "token": "`+nodeToken+`"}
	]}`)
	writeFile(t, nodeTok, nodeToken+"\n")
	tweak := func(cfg *server.Config) {
		cfg.AuthTokenFile, cfg.NodeTokenFile = tokens, nodeTok
		cfg.Autopilot.TargetVoters = 3
		cfg.Autopilot.StabilizationTime = 300 * time.Millisecond
		cfg.Autopilot.Interval = 100 * time.Millisecond
		cfg.LeaveOnTerminate = true
	}
	c := servertest.StartCluster(t, 1, tweak)
	nonvoter := func(cfg *server.Config) { tweak(cfg); cfg.NonVoter = true }
	c.Join(nonvoter)
	c.Join(nonvoter)
	cl, err := client.New(client.Config{Endpoints: c.Endpoints()[:1], Token: adminToken, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	servertest.WaitFor(t, 15*time.Second, "n2 and n3 promoted by the autopilot", func() bool {
		ms := membersByID(t, cl)
		return len(ms) == 3 && ms["n2"].Voter && ms["n3"].Voter
	})

	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3
	followerID := c.Node(follower).ID()
	c.Stop(follower) // LeaveOnTerminate: asks the leader, through its own API, to remove it
	servertest.WaitFor(t, 10*time.Second, followerID+" removed", func() bool {
		_, ok := membersByID(t, cl)[followerID]
		return !ok
	})
}
