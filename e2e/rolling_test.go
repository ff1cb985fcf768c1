//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/server/servertest"
)

// TestE2E_RollingRestart restarts each of three real kvd processes in turn
// with SIGTERM (leader last) while 8 clients write and read without pause.
// Planned restarts must cost nothing: zero failed calls, zero lost
// acknowledged writes. It reports the slowest write.
func TestE2E_RollingRestart(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const workers = 8
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		ops      atomic.Int64
		worstNs  atomic.Int64
		mu       sync.Mutex // guards acked and failures
		acked    = map[string]string{}
		failures []error
	)
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	for w := range workers {
		cl := newClient(t, c.endpoints())
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k, v := fmt.Sprintf("roll/%d/%d", w, i%20), fmt.Sprintf("%d-%d", w, i)
				start := time.Now()
				_, err := cl.Put(ctx, k, []byte(v))
				if d := int64(time.Since(start)); d > worstNs.Load() {
					worstNs.Store(d)
				}
				if err != nil {
					fail(fmt.Errorf("worker %d put %s: %w", w, k, err))
					return
				}
				mu.Lock()
				acked[k] = v
				mu.Unlock()
				got, err := cl.Get(ctx, k)
				if err != nil || string(got.KV.Value) != v {
					fail(fmt.Errorf("worker %d get %s = %v, %v; want %s", w, k, got, err, v))
					return
				}
				if _, err := cl.Get(ctx, k, client.WithConsistency(client.Stale)); err != nil {
					fail(fmt.Errorf("worker %d stale get %s: %w", w, k, err))
					return
				}
				ops.Add(3)
			}
		})
	}

	waitOps := func(what string) {
		before := ops.Load()
		servertest.WaitFor(t, 20*time.Second, what, func() bool { return ops.Load() > before+300 })
	}
	waitOps("traffic before the first restart")
	leader := c.leader(10 * time.Second)
	order := []string{}
	for _, n := range []string{"n1", "n2", "n3"} {
		if n != leader {
			order = append(order, n)
		}
	}
	order = append(order, leader)
	admin := newClient(t, c.endpoints())
	for _, n := range order {
		start := time.Now()
		c.script("restart", n)
		servertest.WaitFor(t, 20*time.Second, n+" back and caught up", func() bool {
			st, err := admin.Status(ctx, c.grpcAddr(n))
			return err == nil && st.Header.LeaderKnown && st.AppliedIndex >= st.CommitIndex
		})
		t.Logf("restarted %s in %v", n, time.Since(start).Round(time.Millisecond))
		waitOps("traffic after restarting " + n)
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for _, err := range failures {
		t.Errorf("failed call: %v", err)
	}
	t.Logf("%d calls by %d clients across a rolling restart of 3 nodes (leader %s last): %d failed, slowest write %v",
		ops.Load(), workers, leader, len(failures), time.Duration(worstNs.Load()).Round(time.Millisecond))
	for k, v := range acked {
		got, err := admin.Get(ctx, k)
		if err != nil || string(got.KV.Value) != v {
			if errors.Is(err, client.ErrNotFound) || err == nil {
				t.Errorf("acknowledged %s=%s lost: got %v", k, v, got)
				continue
			}
			t.Errorf("read back %s: %v", k, err)
		}
	}
}
