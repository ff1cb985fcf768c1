package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
)

// TestRun_UpstreamAuth runs kvgateway against an in-process cluster with
// gRPC auth on: with --cluster-token-file naming a write token it writes;
// without, the cluster refuses it and nothing is written.
func TestRun_UpstreamAuth(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens.json", `{"tokens": [
		{"name": "gateway", "role": "write", "token": "gateway-token-0123456789"},
		{"name": "nodes",   "role": "admin", "token": "node-token-0123456789"}
	]}`)
	nodeTok := write("node.token", "node-token-0123456789\n")
	gatewayTok := write("gateway.token", "gateway-token-0123456789\n")
	c := servertest.StartCluster(t, 3, func(cfg *server.Config) {
		cfg.AuthTokenFile, cfg.NodeTokenFile = tokens, nodeTok
	})

	anon := startRun(t, c.Endpoints(), "--insecure-no-auth", "--request-timeout", "2s")
	if r := anon.do(t, "PUT", "/v1/kv/anon", "", strings.NewReader("v")); r.StatusCode == 200 {
		t.Fatalf("PUT without a cluster token = %d, want a refusal", r.StatusCode)
	}
	g := startRun(t, c.Endpoints(), "--insecure-no-auth", "--cluster-token-file", gatewayTok)
	if r := g.do(t, "PUT", "/v1/kv/k", "", strings.NewReader("v")); r.StatusCode != 200 {
		body, _ := io.ReadAll(r.Body)
		t.Fatalf("PUT with the gateway's cluster token = %d: %s", r.StatusCode, body)
	}
	leader := c.Node(c.Leader(10 * time.Second))
	servertest.WaitFor(t, 10*time.Second, "the key on the leader", func() bool {
		_, err := leader.Store().Get([]byte("k"))
		return err == nil
	})
	if _, err := leader.Store().Get([]byte("anon")); err == nil {
		t.Fatal("the refused write without a token was applied")
	}
	if _, err := parseFlags([]string{"--insecure-no-auth", "--cluster-token-file", filepath.Join(dir, "missing")}, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("missing token file: parseFlags = %v, want a usage error", err)
	}
}
