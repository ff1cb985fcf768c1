package client

import (
	"fmt"
	"testing"
)

// TestClient_SendsNoWindowPings shows that the client's connections have
// fixed flow-control windows, as the node's do: with grpc-go's dynamic
// window the client would send a BDP PING with nearly every answer that
// arrives on an idle connection, over the Batch stream and unary calls
// alike.
func TestClient_SendsNoWindowPings(t *testing.T) {
	for _, disable := range []bool{false, true} {
		n := startFake(t, "n1")
		c := newTestClientConfig(t, Config{Endpoints: []string{n.addr}, DisableBatching: disable})
		ctx := testCtx(t)
		const calls = 100
		for i := range calls {
			key := fmt.Sprintf("k%03d", i)
			if _, err := c.Put(ctx, key, []byte("v")); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
			if _, err := c.Get(ctx, key); err != nil {
				t.Fatalf("get %d: %v", i, err)
			}
		}
		fromClient, fromServer := n.lis.Pings()
		// The fake node is a default grpc.Server, with the dynamic window:
		// its PINGs show that the counter sees them.
		if fromServer == 0 {
			t.Fatalf("DisableBatching=%v: no PING from the default-configured fake node over %d calls; the frame counter is not working", disable, 2*calls)
		}
		if fromClient != 0 {
			t.Errorf("DisableBatching=%v: client sent %d PINGs over %d calls, want 0 (dynamic flow-control window on?)", disable, fromClient, 2*calls)
		}
	}
}
