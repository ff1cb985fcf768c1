//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server/servertest"
)

// TestE2E_Membership drives membership with the kvctl binary against real
// kvd processes: a fourth kvd is added as a non-voter and serves stale
// reads, is promoted, takes leadership by a transfer to its id, gives it
// back and is removed; bad requests exit with the documented codes.
func TestE2E_Membership(t *testing.T) {
	c := startCluster(t)
	addrs := servertest.FreeAddrs(t, 2)
	grpc4, raft4 := addrs[0], addrs[1]
	n4Log := filepath.Join(c.dir, "n4.log")
	logFile, err := os.Create(n4Log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	kvd := exec.CommandContext(ctx, filepath.Join(binDir, "kvd"), "--node-id", "n4",
		"--data-dir", filepath.Join(c.dir, "n4"), "--grpc-addr", grpc4, "--raft-addr", raft4,
		"--heartbeat-timeout", "300ms", "--election-timeout", "300ms")
	kvd.Stdout, kvd.Stderr = logFile, logFile
	kvd.Cancel = func() error { return kvd.Process.Signal(syscall.SIGTERM) }
	kvd.WaitDelay = 10 * time.Second
	if err := kvd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = kvd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(n4Log)
			t.Logf("---- n4 log ----\n%s", b)
		}
	})

	expect := c.expectKvctl
	type member struct {
		ID       string `json:"id"`
		GRPCAddr string `json:"grpc_addr"`
		Voter    bool   `json:"voter"`
		Leader   bool   `json:"leader"`
	}
	members := func() map[string]member {
		out, _, code := c.kvctl("-w", "json", "member", "list")
		var got struct {
			Members []member `json:"members"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
			return nil
		}
		ms := map[string]member{}
		for _, m := range got.Members {
			ms[m.ID] = m
		}
		return ms
	}
	leader := func() string {
		for id, m := range members() {
			if m.Leader {
				return id
			}
		}
		return ""
	}

	expect(0, "OK", "put", "greeting", "hello")
	expect(0, "member n4 added", "member", "add", "n4", "--raft-addr", raft4, "--grpc-addr", grpc4, "--nonvoter")
	servertest.WaitFor(t, 30*time.Second, "n4 listed as a non-voter with its client address", func() bool {
		m, ok := members()["n4"]
		return ok && !m.Voter && m.GRPCAddr == grpc4
	})
	// n4 replicated the data and serves stale reads itself.
	servertest.WaitFor(t, 30*time.Second, "a stale read served by n4", func() bool {
		out, _, code := c.kvctl("--endpoints", grpc4, "-w", "json", "get", "greeting", "--consistency", "stale")
		return code == 0 && strings.Contains(out, `"node_id": "n4"`)
	})
	// Leadership cannot go to a non-voter: exit 7, nothing changes.
	expect(7, "", "leader", "transfer", "--to", "n4")

	expect(0, "member n4 promoted", "member", "promote", "n4")
	if m := members()["n4"]; !m.Voter {
		t.Fatalf("n4 after promote: %+v", m)
	}
	expect(0, "leadership transferred to n4", "leader", "transfer", "--to", "n4")
	servertest.WaitFor(t, 30*time.Second, "n4 to lead", func() bool { return leader() == "n4" })
	expect(0, "OK", "put", "greeting", "from-n4-term")
	expect(0, "leadership transferred to n2", "leader", "transfer", "--to", "n2")
	servertest.WaitFor(t, 30*time.Second, "n2 to lead", func() bool { return leader() == "n2" })

	// Bad input: documented exit codes, configuration unchanged.
	before := members()
	if msg := expect(3, "", "member", "remove", "n9"); !strings.Contains(msg, "not in the configuration") {
		t.Fatalf("remove unknown: %q", msg)
	}
	expect(3, "", "member", "promote", "n9")
	expect(3, "", "leader", "transfer", "--to", "n9")
	expect(2, "", "member", "add", "n5", "--raft-addr", "127.0.0.1:1")
	if msg := expect(7, "", "member", "add", "n1", "--raft-addr", "127.0.0.1:1", "--grpc-addr", "127.0.0.1:2", "--nonvoter"); !strings.Contains(msg, "never demoted") {
		t.Fatalf("demote: %q", msg)
	}
	if after := members(); len(after) != len(before) || after["n1"].Voter != before["n1"].Voter {
		t.Fatalf("bad requests changed the members: %v -> %v", before, after)
	}

	expect(0, "member n4 removed", "member", "remove", "n4")
	servertest.WaitFor(t, 30*time.Second, "n4 gone from the members", func() bool {
		ms := members()
		_, ok := ms["n4"]
		return ms != nil && !ok && len(ms) == 3
	})
	expect(0, "OK", "put", "greeting", "after-remove")
	expect(0, "after-remove", "get", "greeting")
}
