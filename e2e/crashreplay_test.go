//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server/servertest"
)

// storeOpenedRE finds the applied index a kvd log reports when it opens
// its state machine file.
var storeOpenedRE = regexp.MustCompile(`msg="store opened" .*index=(\d+)`)

// TestE2E_KillAllWithUncommittedStateMachine runs a cluster whose state
// machines never commit on their own (an hour's commit interval), so every
// write is applied and acknowledged while only the raft log holds it on
// disk. Then every kvd is SIGKILLed at once and restarted: each must open a
// store.db that lacks the writes, replay them from its raft log, and serve
// every acknowledged write; stopped cleanly, each store.db must hold them.
func TestE2E_KillAllWithUncommittedStateMachine(t *testing.T) {
	c := startCluster(t, "KVD_FLAGS=--state-machine-commit-interval=1h --state-machine-commit-entries=1000000")
	cl := newClient(t, c.endpoints())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const total = 300
	acked := map[string]string{}
	var last uint64
	for i := range total {
		k, v := fmt.Sprintf("replay/%03d", i), fmt.Sprintf("v%d", i)
		res, err := cl.Put(ctx, k, []byte(v))
		if err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		acked[k] = v
		last = res.Index
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		c.script("kill", n)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		c.script("start", n)
	}

	// Each node opened a file that trails what it had acknowledged or
	// applied: the writes can only have come back from the raft log.
	for _, n := range []string{"n1", "n2", "n3"} {
		var opens [][][]byte
		servertest.WaitFor(t, 30*time.Second, n+" reopening its store", func() bool {
			b, err := os.ReadFile(filepath.Join(c.dir, n+".log"))
			if err != nil {
				t.Fatal(err)
			}
			opens = storeOpenedRE.FindAllSubmatch(b, -1)
			return len(opens) >= 2 // at the first start and after the kill
		})
		opened, err := strconv.ParseUint(string(opens[len(opens)-1][1]), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if opened >= last {
			t.Fatalf("%s reopened its store at index %d, not below the last acknowledged write %d: nothing was left to replay", n, opened, last)
		}
		t.Logf("%s reopened store.db at applied index %d; last acknowledged write at %d", n, opened, last)
	}

	c.waitSameApplied(ctx, cl, 30*time.Second)
	for k, v := range acked {
		got, err := cl.Get(ctx, k)
		if err != nil {
			t.Fatalf("get %s after the restart: %v", k, err)
		}
		if string(got.KV.Value) != v {
			t.Fatalf("get %s after the restart = %q, want %q", k, got.KV.Value, v)
		}
	}
	c.script("down")
	c.checkStoreFiles(acked)
}
