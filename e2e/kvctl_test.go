//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server/servertest"
)

// TestE2E_Kvctl drives the kvctl binary against real kvd processes: the
// commands, their output formats and the documented exit codes.
func TestE2E_Kvctl(t *testing.T) {
	c := startCluster(t)

	expect := c.expectKvctl

	expect(0, "OK", "put", "greeting", "hello")
	expect(0, "hello", "get", "greeting")
	expect(0, "OK", "put", "group/a", "1")
	expect(0, "OK", "put", "group/b", "2")
	expect(0, "OK", "put", "group/c", "3")
	out := expect(0, "group/a", "get", "--prefix", "group/", "--limit", "2")
	if strings.Contains(out, "group/c") {
		t.Fatalf("--limit 2 returned group/c:\n%s", out)
	}
	expect(0, "1", "del", "group/b")
	expect(0, "0", "del", "group/b")

	// Conditional writes: a condition that does not hold exits 6 and
	// writes nothing.
	expect(0, "OK", "put", "lock", "me", "--mod-index", "0")
	if msg := expect(6, "", "put", "lock", "you", "--mod-index", "0"); !strings.Contains(msg, "condition failed: the key exists") {
		t.Fatalf("create over an existing key: %q", msg)
	}
	expect(0, "OK", "cas", "lock", "me", "you")
	if msg := expect(6, "", "cas", "lock", "me", "them"); !strings.Contains(msg, `condition failed: the key does not hold "me"`) {
		t.Fatalf("stale cas: %q", msg)
	}
	expect(0, "you", "get", "lock")

	// Missing key: exit 3 with a clear message on stderr.
	if msg := expect(3, "", "get", "group/b"); !strings.Contains(msg, "not found") {
		t.Fatalf("missing key message: %q", msg)
	}
	// Bad input: exit 2, and the message names the limit.
	if msg := expect(2, "", "put", "", "v"); !strings.Contains(msg, "empty") {
		t.Fatalf("empty key message: %q", msg)
	}
	if msg := expect(2, "", "put", strings.Repeat("k", 4097), "v"); !strings.Contains(msg, "4096") {
		t.Fatalf("long key message: %q", msg)
	}
	expect(2, "", "put", "only-a-key")
	expect(2, "", "frobnicate")

	// JSON output is machine readable and carries the response header.
	var got struct {
		Header struct {
			NodeID   string `json:"node_id"`
			LeaderID string `json:"leader_id"`
		} `json:"header"`
	}
	jsonOut := expect(0, "", "-w", "json", "get", "greeting")
	if err := json.Unmarshal([]byte(jsonOut), &got); err != nil || got.Header.LeaderID == "" {
		t.Fatalf("json get: %v, %+v\n%s", err, got, jsonOut)
	}

	for _, id := range []string{"n1", "n2", "n3"} {
		expect(0, id, "member", "list", "-w", "table")
	}
	// Health is about the cluster's state, so wait until every follower has
	// applied what it knows to be committed (a few ms after the writes).
	servertest.WaitFor(t, 5*time.Second, "a healthy cluster", func() bool {
		_, _, code := c.kvctl("cluster", "health")
		return code == 0
	})
	status := expect(0, "leader", "cluster", "status", "-w", "table")
	if strings.Count(status, "follower") != 2 {
		t.Fatalf("cluster status should show two followers:\n%s", status)
	}
	expect(0, "complete", "completion", "bash")
	expect(0, "failure tolerance 1", "cluster", "health")

	// A node that does not answer shows its error in its row and the
	// command exits 4.
	c.script("kill", "n3")
	out, _, code := c.kvctl("cluster", "status", "-w", "table")
	if code != 4 || !strings.Contains(out, "n3") || !strings.Contains(out, "refused") {
		t.Fatalf("status with n3 down: exit %d\n%s", code, out)
	}
	out, _, code = c.kvctl("cluster", "health")
	if code != 4 || !strings.Contains(out, "failure tolerance 0") || !strings.Contains(out, "unreachable") {
		t.Fatalf("health with n3 down: exit %d\n%s", code, out)
	}
	// Writes still work with one node down.
	expect(0, "OK", "put", "still", "writable")

	// SIGTERM shuts a node down in order and it exits by itself.
	if out := c.script("stop", "n1"); strings.Contains(out, "SIGKILL") {
		t.Fatalf("n1 did not stop on SIGTERM:\n%s", out)
	}
	logText, err := os.ReadFile(filepath.Join(c.dir, "n1.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"signal received", "raft node closed", "store closed", "node stopped"} {
		if !strings.Contains(string(logText), want) {
			t.Errorf("n1 log lacks %q after SIGTERM", want)
		}
	}
}
