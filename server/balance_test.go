package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/server/servertest"
)

// TestBalance_StaleReadsSpreadAndFailOver runs 3,000 stale reads from one
// client and counts, from the response headers, which node served each:
// every node must serve at least 20%. Then one follower stops, and 3,000
// more reads must all succeed, served by the other two.
func TestBalance_StaleReadsSpreadAndFailOver(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	cl := newClient(t, c.Endpoints()[0])
	ctx := ctxTimeout(t, 2*time.Minute)
	if _, err := cl.Put(ctx, "lb", []byte("v")); err != nil {
		t.Fatal(err)
	}

	count := func(n int) map[string]int {
		served := map[string]int{}
		for i := range n {
			got, err := cl.Get(ctx, "lb", client.WithConsistency(client.Stale))
			if err != nil {
				t.Fatalf("stale read %d: %v", i, err)
			}
			if string(got.KV.Value) != "v" || got.Header.Consistency != client.Stale {
				t.Fatalf("stale read %d = %q at %v", i, got.KV.Value, got.Header.Consistency)
			}
			served[got.Header.NodeID]++
		}
		return served
	}
	served := count(3000)
	t.Logf("3,000 stale reads served: %v", served)
	for i := range 3 {
		id := c.Node(i).ID()
		if served[id] < 600 {
			t.Errorf("%s served %d of 3000 stale reads, want at least 20%% (600)", id, served[id])
		}
	}

	stopped := (leader + 1) % 3
	stoppedID := c.Node(stopped).ID()
	c.Stop(stopped)
	served = count(3000) // count fails the test on any failed read
	t.Logf("3,000 stale reads with %s stopped: %v", stoppedID, served)
	if served[stoppedID] != 0 {
		t.Errorf("stopped node %s served %d reads", stoppedID, served[stoppedID])
	}
	for i := range 3 {
		if id := c.Node((stopped + 1 + i) % 3); id != nil && served[id.ID()] < 600 {
			t.Errorf("%s served %d reads after the stop, want its share of the stopped node's", id.ID(), served[id.ID()])
		}
	}
}

// TestBalance_ReadYourWritesThroughTheClient: 1,000 rounds of Put then a
// stale Get, which the client may send to any member; with read-your-writes
// (the default for stale reads) every read sees the write before it.
func TestBalance_ReadYourWritesThroughTheClient(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	cl := newClient(t, c.Endpoints()...)
	ctx := ctxTimeout(t, 2*time.Minute)
	misses := 0
	served := map[string]int{}
	for i := range 1000 {
		v := fmt.Sprintf("v%d", i)
		if _, err := cl.Put(ctx, "ryw", []byte(v)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		got, err := cl.Get(ctx, "ryw", client.WithConsistency(client.Stale))
		if err != nil {
			t.Fatalf("stale get %d: %v", i, err)
		}
		served[got.Header.NodeID]++
		if string(got.KV.Value) != v {
			misses++
		}
	}
	t.Logf("read-your-writes stale reads served: %v", served)
	if misses != 0 {
		t.Fatalf("%d of 1000 stale reads missed the client's own write", misses)
	}
	if len(served) < 2 {
		t.Fatalf("all stale reads went to %v; want them spread over followers too", served)
	}
}
