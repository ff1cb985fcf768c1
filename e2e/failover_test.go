//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
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
	c.waitSameApplied(ctx, cl, 20*time.Second)
	c.script("down")
	c.checkStoreFiles(acked)
}
