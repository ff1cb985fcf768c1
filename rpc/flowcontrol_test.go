package rpc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// TestGRPCServer_SendsNoWindowPings shows that the node's gRPC server has
// fixed flow-control windows (StreamWindowSize): with grpc-go's dynamic
// window, it would answer nearly every call that arrives on an idle
// connection with a BDP PING of its own, one more frame and one more
// wake-up of its writer per call.
func TestGRPCServer_SendsNoWindowPings(t *testing.T) {
	_, cc, lis := serveFake(t, Config{}, nil)
	kv := kvpb.NewKVClient(cc)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	const calls = 100
	for i := range calls {
		key := []byte(fmt.Sprintf("k%03d", i))
		if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: key, Value: []byte("v")}); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if _, err := kv.Get(ctx, &kvpb.GetRequest{Key: key}); err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
	}
	fromClient, fromServer := lis.Pings()
	// The raw test client keeps grpc-go's default dynamic window, so it
	// does send BDP PINGs: that shows the counter sees them.
	if fromClient == 0 {
		t.Fatalf("saw no PING from the default-configured client over %d calls; the frame counter is not working", 2*calls)
	}
	if fromServer != 0 {
		t.Fatalf("server sent %d PINGs over %d calls, want 0 (dynamic flow-control window on?)", fromServer, 2*calls)
	}
}
