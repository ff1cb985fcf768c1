package server_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
)

// TestHandOff_PlannedLeaderStopsFailNoCall stops the leader three times (a
// planned stop, as on SIGTERM: leadership is handed off and in-flight calls
// drain) while a client writes without pause. No call may fail, not even
// with an unknown outcome.
func TestHandOff_PlannedLeaderStopsFailNoCall(t *testing.T) {
	c := servertest.StartCluster(t, 3, func(cfg *server.Config) { cfg.HandOffLeadership = true })
	cl := newClient(t, c.Endpoints()...)
	ctx := ctxTimeout(t, time.Minute)

	var ok, failed, worst atomic.Int64 // worst: the slowest write, in ns
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			_, err := cl.Put(ctx, fmt.Sprintf("h/%d", i%50), []byte("v"))
			if d := int64(time.Since(start)); d > worst.Load() {
				worst.Store(d)
			}
			if err != nil {
				failed.Add(1)
				t.Errorf("put %d: %v", i, err)
				return
			}
			ok.Add(1)
		}
	}()
	for round := range 3 {
		before := ok.Load()
		servertest.WaitFor(t, 10*time.Second, "writes before the stop", func() bool { return ok.Load() > before+20 })
		leader := c.Leader(leaderWait)
		c.Stop(leader)
		after := ok.Load()
		servertest.WaitFor(t, 10*time.Second, fmt.Sprintf("round %d: writes on the new leader", round), func() bool { return ok.Load() > after+20 })
		c.Start(leader)
		c.WaitRegistered(10 * time.Second)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d writes, %d failed, slowest %v, across 3 planned leader stops", ok.Load(), failed.Load(), time.Duration(worst.Load()))
}
