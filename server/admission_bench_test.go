package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
)

// benchLimit is the write admission limit of BenchmarkAdmission_Overload.
const benchLimit = 16

// BenchmarkAdmission_Overload measures write goodput on a 3-node cluster
// whose nodes admit benchLimit writes at a time, with as many writers as
// the limit (1x) and four times as many (4x), and, for comparison, 4x
// with admission off. Writers send raw Puts to the leader and, when
// refused, wait for the server's retry hint as the Go client does.
//
// Reported: ok/s (acknowledged writes per second), refused/op (OVERLOADED
// answers per acknowledged write) and p99-ms (latency of acknowledged
// writes). Goodput should stay flat from 1x to 4x while refusals absorb the
// excess; without admission the excess waits in raft's queue instead,
// which shows up as latency.
//
//	go test -run '^$' -bench BenchmarkAdmission_Overload -benchtime 3000x ./server/
func BenchmarkAdmission_Overload(b *testing.B) {
	for _, bc := range []struct {
		name    string
		writers int
		limit   int
	}{
		{"1x", benchLimit, benchLimit},
		{"4x", 4 * benchLimit, benchLimit},
		{"4x-no-admission", 4 * benchLimit, -1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := servertest.StartCluster(b, 3, func(cfg *server.Config) { cfg.MaxInflightWrites = bc.limit })
			kv := kvpb.NewKVClient(dial(b, c.Endpoints()[c.Leader(leaderWait)]))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()

			var left atomic.Int64
			left.Store(int64(b.N))
			var refused atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := range bc.writers {
				wg.Go(func() {
					var mine []time.Duration
					defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
					for i := 0; left.Add(-1) >= 0; i++ {
						key := fmt.Appendf(nil, "bench-%d-%d", w, i)
						for {
							t0 := time.Now()
							_, err := kv.Put(ctx, &kvpb.PutRequest{Key: key, Value: []byte("value")})
							if err == nil {
								mine = append(mine, time.Since(t0))
								break
							}
							if status.Code(err) != codes.ResourceExhausted {
								b.Errorf("Put: %v", err)
								return
							}
							refused.Add(1)
							time.Sleep(retryAfter(err)) // the client's backoff, not test synchronisation
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ok/s")
			b.ReportMetric(float64(refused.Load())/float64(b.N), "refused/op")
		})
	}
}

// retryAfter is the RetryInfo hint of an OVERLOADED status (50ms if absent).
func retryAfter(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 50 * time.Millisecond
}
