//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// TestE2E_ClusterScriptReplica: `scripts/cluster.sh replica n4` starts a
// fourth kvd that joins the running cluster as a non-voter, has caught up
// when the command returns, serves stale reads of data written before it
// joined from its own state, and is stopped by `down` with the rest.
func TestE2E_ClusterScriptReplica(t *testing.T) {
	c := startCluster(t)
	c.expectKvctl(0, "", "put", "before", "joined")
	if out := c.script("replica", "n4"); !strings.Contains(out, "n4 is a read replica") {
		t.Fatalf("cluster.sh replica n4 printed:\n%s", out)
	}
	var n4 string
	for _, line := range strings.Split(c.expectKvctl(0, "n4", "member", "list"), "\n") {
		if strings.HasPrefix(line, "n4,") {
			n4 = line
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(n4), "false, false") {
		t.Fatalf("member list shows n4 as %q; want a non-voter that does not lead", n4)
	}

	cc, err := grpc.NewClient(c.grpcAddr("n4"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := kvpb.NewKVClient(cc).Get(ctx, &kvpb.GetRequest{Key: []byte("before"),
		Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}})
	if err != nil {
		t.Fatalf("stale get on n4: %v", err)
	}
	if string(got.GetKv().GetValue()) != "joined" || got.GetHeader().GetNodeId() != "n4" {
		t.Fatalf("stale get on n4 = %q from %s; want \"joined\" from n4", got.GetKv().GetValue(), got.GetHeader().GetNodeId())
	}

	out := c.script("down")
	if !strings.Contains(out, "n4 stopped") {
		t.Fatalf("down did not stop the replica:\n%s", out)
	}
}
