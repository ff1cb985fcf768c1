//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/server/servertest"
)

func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// TestE2E_QuorumLossDegradedMode: three real processes, SIGKILL two. The
// survivor refuses writes with NO_QUORUM within 2s, serves stale reads of
// every acknowledged value it holds flagged degraded, and says so through
// health; restarted alone it still serves stale reads; with the others back,
// writes resume and no acknowledged write is lost.
func TestE2E_QuorumLossDegradedMode(t *testing.T) {
	c := startCluster(t)
	leader := c.leader(10 * time.Second)
	survivor := map[string]string{"n1": "n2", "n2": "n3", "n3": "n1"}[leader]
	cc, err := grpc.NewClient(c.grpcAddr(survivor), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	kv := kvpb.NewKVClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	acked := map[string]string{}
	var last uint64
	for i := range 100 {
		k, v := fmt.Sprintf("dq/%03d", i), fmt.Sprintf("v%d", i)
		put, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte(k), Value: []byte(v)})
		if err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		acked[k], last = v, put.GetIndex()
	}
	// The survivor holds what it has applied; make sure that is everything.
	if _, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("dq/000"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE, MinIndex: last}}); err != nil {
		t.Fatalf("survivor catch-up read: %v", err)
	}

	for _, n := range []string{"n1", "n2", "n3"} {
		if n != survivor {
			c.script("kill", n)
		}
	}
	killed := time.Now()
	var rejectAfter time.Duration
	servertest.WaitFor(t, 5*time.Second, "NO_QUORUM for writes", func() bool {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := kv.Put(wctx, &kvpb.PutRequest{Key: []byte("dq/lost"), Value: []byte("x")})
		if reason(err) == rpc.ReasonNoQuorum {
			rejectAfter = time.Since(killed)
			return true
		}
		return false
	})
	t.Logf("survivor %s refused writes with NO_QUORUM %v after the SIGKILLs", survivor, rejectAfter)
	if rejectAfter > 2*time.Second {
		t.Errorf("refusing writes took %v, want at most 2s", rejectAfter)
	}
	start := time.Now()
	_, err = kv.Put(ctx, &kvpb.PutRequest{Key: []byte("dq/lost"), Value: []byte("x")})
	if reason(err) != rpc.ReasonNoQuorum || time.Since(start) > time.Second {
		t.Errorf("write in degraded mode: %v after %v, want NO_QUORUM within 1s", err, time.Since(start))
	}

	checkStale := func(when string) {
		t.Helper()
		for k, v := range acked {
			got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte(k), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}})
			if err != nil || string(got.GetKv().GetValue()) != v {
				t.Fatalf("%s: stale read %s = %v, %v; want %s", when, k, got, err, v)
			}
		}
	}
	checkStale("degraded")
	got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("dq/001"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}})
	if err != nil || !got.GetHeader().GetDegraded() {
		t.Fatalf("degraded flag missing: %v, %v", got.GetHeader(), err)
	}
	health := healthpb.NewHealthClient(cc)
	servertest.WaitFor(t, 3*time.Second, "health: write NOT_SERVING, read-stale SERVING", func() bool {
		w, err1 := health.Check(ctx, &healthpb.HealthCheckRequest{Service: rpc.WriteService})
		r, err2 := health.Check(ctx, &healthpb.HealthCheckRequest{Service: rpc.StaleReadService})
		return err1 == nil && err2 == nil && w.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING &&
			r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})

	// Restart the survivor alone: it serves stale reads from its bbolt file
	// at once, with its peers still down.
	c.script("restart", survivor)
	servertest.WaitFor(t, 10*time.Second, "restarted survivor to answer", func() bool {
		_, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte("dq/000"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}})
		return err == nil
	})
	checkStale("after a lone restart")

	for _, n := range []string{"n1", "n2", "n3"} {
		if n != survivor {
			c.script("start", n)
		}
	}
	servertest.WaitFor(t, 20*time.Second, "writes to resume", func() bool {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := kv.Put(wctx, &kvpb.PutRequest{Key: []byte("dq/back"), Value: []byte("yes")})
		return err == nil
	})
	for k, v := range acked {
		got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte(k)})
		if err != nil || string(got.GetKv().GetValue()) != v {
			t.Fatalf("after recovery: %s = %v, %v; want %s", k, got, err, v)
		}
	}
}
