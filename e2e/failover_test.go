//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/server/servertest"
	"github.com/raftkv/raftkv/store"
)

// TestE2E_KillLeaderDuringWrites writes 500 keys through the client while
// the leader process is SIGKILLed once, restarts it, and then checks on
// every node's own bbolt file that every acknowledged write is there.
func TestE2E_KillLeaderDuringWrites(t *testing.T) {
	c := startCluster(t)
	cl := newClient(t, c.endpoints()[:1])
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const total, killAt = 500, 150
	acked := map[string]string{}
	var unknown []string
	var killed string
	var failover time.Duration
	for i := range total {
		if i == killAt {
			killed = c.leader(10 * time.Second)
			c.script("kill", killed)
			t.Logf("SIGKILLed leader %s after %d writes", killed, i)
		}
		k, v := fmt.Sprintf("e2e/%03d", i), fmt.Sprintf("v%d-%d", i, time.Now().UnixNano())
		start := time.Now()
		_, err := cl.Put(ctx, k, []byte(v))
		switch {
		case err == nil:
			acked[k] = v
			if i == killAt {
				failover = time.Since(start)
			}
		case errors.Is(err, client.ErrOutcomeUnknown):
			unknown = append(unknown, k)
		default:
			t.Fatalf("put %s: %v", k, err)
		}
	}
	t.Logf("acknowledged %d writes, %d with unknown outcome; first write after the kill took %v", len(acked), len(unknown), failover)
	if len(acked) < total-5 {
		t.Fatalf("only %d of %d writes acknowledged", len(acked), total)
	}

	c.script("start", killed)
	// Wait until all three nodes report the same applied index, then stop
	// the cluster and read each node's store file directly.
	servertest.WaitFor(t, 20*time.Second, "all nodes at the same applied index", func() bool {
		var applied []uint64
		for _, ep := range c.endpoints() {
			st, err := cl.Status(ctx, ep)
			if err != nil {
				return false
			}
			applied = append(applied, st.AppliedIndex)
		}
		return applied[0] == applied[1] && applied[1] == applied[2]
	})
	c.script("down")
	for _, node := range []string{"n1", "n2", "n3"} {
		st, err := store.Open(filepath.Join(c.dir, node, "store.db"), nil)
		if err != nil {
			t.Fatalf("open %s store: %v", node, err)
		}
		missing := 0
		for k, v := range acked {
			kv, err := st.Get([]byte(k))
			if err != nil || string(kv.Value) != v {
				missing++
				if missing <= 5 {
					t.Errorf("%s: acknowledged %s=%s, found %q (%v)", node, k, v, kv.Value, err)
				}
			}
		}
		_ = st.Close()
		if missing > 0 {
			t.Errorf("%s lost %d acknowledged writes", node, missing)
		}
	}
}
