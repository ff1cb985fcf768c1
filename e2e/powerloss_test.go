//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server/servertest"
)

// TestE2E_PowerLossRebuildsStateMachine stages a power loss of the whole
// machine under the default durability (state machine commits not
// fsynced, the raft log fsynced): every kvd is SIGKILLed, each store.db is
// torn (its tail cut off and its first pages overwritten, which a real
// power loss can leave behind when the meta page reached the disk and the
// data pages did not), and the boot id the nodes read changes, as it does
// on every boot. Each node must set its file aside, rebuild it from its
// own raft snapshot and log, and hold every acknowledged write.
func TestE2E_PowerLossRebuildsStateMachine(t *testing.T) {
	dir := t.TempDir()
	bootID := filepath.Join(dir, "boot_id")
	writeFile(t, bootID, "boot-1\n")
	// Snapshots every 100 entries, checked every second, so the rebuild
	// restores a snapshot and replays the log after it.
	c := startCluster(t, "KVD_FLAGS=--boot-id-file "+bootID+" --snapshot-threshold 100 --snapshot-interval 1s")
	cl := newClient(t, c.endpoints())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const total = 400
	acked := map[string]string{}
	for i := range total {
		k, v := fmt.Sprintf("pl/%03d", i), fmt.Sprintf("v%d", i)
		if _, err := cl.Put(ctx, k, []byte(v)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		acked[k] = v
	}
	nodes := []string{"n1", "n2", "n3"}
	servertest.WaitFor(t, 30*time.Second, "a snapshot on every node", func() bool {
		for _, n := range nodes {
			if m, _ := filepath.Glob(filepath.Join(c.dir, n, "raft", "snapshots", "*", "meta.json")); len(m) == 0 {
				return false
			}
		}
		return true
	})
	// Writes after the snapshots: these exist only in the raft logs.
	for i := total; i < total+50; i++ {
		k, v := fmt.Sprintf("pl/%03d", i), fmt.Sprintf("v%d", i)
		if _, err := cl.Put(ctx, k, []byte(v)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		acked[k] = v
	}

	for _, n := range nodes {
		c.script("kill", n)
		db := filepath.Join(c.dir, n, "store.db")
		if _, err := os.Stat(db + ".unsynced"); err != nil {
			t.Fatalf("%s: no unsynced marker after a crash: %v", n, err)
		}
		tear(t, db)
	}
	writeFile(t, bootID, "boot-2\n")
	c.script("start")

	c.waitSameApplied(ctx, cl, 30*time.Second)
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(c.dir, n, "store.db.discarded")); err != nil {
			t.Errorf("%s did not set its torn store.db aside: %v", n, err)
		}
		log, _ := os.ReadFile(filepath.Join(c.dir, n+".log"))
		if !strings.Contains(string(log), "set it aside to rebuild") {
			t.Errorf("%s log does not say it rebuilt the state machine", n)
		}
	}
	if _, err := cl.Put(ctx, "pl/after", []byte("x")); err != nil {
		t.Fatalf("write after the rebuild: %v", err)
	}

	// A clean stop fsyncs and drops the marker: each node's own file holds
	// every acknowledged write.
	c.script("down")
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(c.dir, n, "store.db.unsynced")); err == nil {
			t.Errorf("%s: unsynced marker left after a clean stop", n)
		}
	}
	c.checkStoreFiles(acked)
}

// tear damages a bbolt file the way a power loss can: the tail is cut off
// and the first data pages (after the two meta pages) hold garbage.
func tear(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("torn", 2048)), 2*4096); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
