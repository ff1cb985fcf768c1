package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/client"
)

// benchSpec is one benchmark run, with etcd's benchmark tool's workload
// definitions: fixed-size keys drawn uniformly from a key space, values of
// a fixed size, a number of concurrent clients sharing a number of
// connections, and either a total or a duration.
type benchSpec struct {
	Workload    string // put, get or mixed
	Clients     int
	Conns       int
	Total       int           // operations; 0 means run for Duration
	Duration    time.Duration // with Total 0
	KeySize     int
	ValSize     int
	KeySpace    int
	Sequential  bool    // keys 0, 1, 2, ... in operation order (wrapping at KeySpace), to load every key
	Rate        float64 // operations per second for all clients together; 0 = unlimited
	ReadRatio   float64 // mixed: fraction of reads
	Consistency client.Consistency
	Batch       bool // calls share each connection's Batch stream (client.Config.DisableBatching off)
	PinConns    bool // connection i prefers endpoint i mod len(endpoints) for stale reads
}

// benchResult is what a run measured.
type benchResult struct {
	Workload    string           `json:"workload"`
	Consistency string           `json:"consistency,omitempty"`
	Clients     int              `json:"clients"`
	Conns       int              `json:"conns"`
	Batch       bool             `json:"batch"`
	Ops         int              `json:"ops"`
	Errors      int              `json:"errors"`
	ErrorsBy    map[string]int   `json:"errors_by_kind,omitempty"`
	Elapsed     time.Duration    `json:"-"`
	ElapsedSec  float64          `json:"elapsed_seconds"`
	OpsPerSec   float64          `json:"ops_per_second"`
	Latency     latencySummaryMs `json:"latency_ms"`
}

// latencySummaryMs holds latency percentiles of successful operations, in
// milliseconds.
type latencySummaryMs struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// benchKey renders key number i as a fixed-width key of size bytes.
func benchKey(i, size int) string {
	k := fmt.Sprintf("%0*d", size, i)
	return k[len(k)-size:]
}

// runBench drives the workload through conns (one client each, shared
// round-robin by the workers) and returns the measurements. progress, if
// not nil, is called about every 200ms with the operations done so far.
func runBench(ctx context.Context, spec benchSpec, conns []kvClient, progress func(done int, elapsed time.Duration)) (benchResult, error) {
	value := make([]byte, spec.ValSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	if spec.Workload != "put" {
		// Reads need something to read: write the key space first (etcd's
		// range benchmark reads one pre-written key; key space 1 is that).
		n := min(spec.KeySpace, 10000)
		for i := range n {
			if _, err := conns[0].Put(ctx, benchKey(i, spec.KeySize), value); err != nil {
				return benchResult{}, fmt.Errorf("preload: %w", err)
			}
		}
		// The other connections' clients have not seen those writes, so
		// their stale reads would carry no min_index, and a follower that
		// has not applied the last writes yet would answer NotFound for
		// keys that exist. One linearizable read of the last key makes each
		// client carry its index (read-your-writes): such a follower waits
		// instead.
		for _, c := range conns[1:] {
			if _, err := c.Get(ctx, benchKey(n-1, spec.KeySize), client.WithConsistency(client.Linearizable)); err != nil {
				return benchResult{}, fmt.Errorf("preload: %w", err)
			}
		}
	}
	if spec.Duration > 0 && spec.Total == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Duration)
		defer cancel()
	}
	var (
		next     atomic.Int64 // operations handed out
		done     atomic.Int64
		mu       sync.Mutex // guards errorsBy and lat
		errorsBy = map[string]int{}
		lat      []time.Duration
		wg       sync.WaitGroup
	)
	// over reports whether the run must stop. It reads the clock as well as
	// ctx: on a busy machine ctx's timer can fire milliseconds after its
	// deadline, and meanwhile every call fails at once with the deadline
	// passed, which would spin the workers and count those failures as
	// errors of the cluster.
	over := func() bool {
		if ctx.Err() != nil {
			return true
		}
		d, ok := ctx.Deadline()
		return ok && !time.Now().Before(d)
	}
	start := time.Now()
	readOpts := []client.ReadOption{client.WithConsistency(spec.Consistency)}
	for w := range spec.Clients {
		c := conns[w%len(conns)]
		rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			defer func() {
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}()
			for {
				n := next.Add(1) - 1
				if spec.Total > 0 && int(n) >= spec.Total {
					return
				}
				if spec.Rate > 0 { // open loop pacing: op n starts at n/rate
					at := start.Add(time.Duration(float64(n) / spec.Rate * float64(time.Second)))
					if d := time.Until(at); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
				}
				if over() {
					return
				}
				k := rng.IntN(spec.KeySpace)
				if spec.Sequential {
					k = int(n % int64(spec.KeySpace))
				}
				key := benchKey(k, spec.KeySize)
				t0 := time.Now()
				var err error
				if spec.Workload == "put" || (spec.Workload == "mixed" && rng.Float64() >= spec.ReadRatio) {
					_, err = c.Put(ctx, key, value)
				} else {
					_, err = c.Get(ctx, key, readOpts...)
				}
				d := time.Since(t0)
				if err != nil {
					if spec.Total == 0 && over() {
						return // the duration ended mid-operation
					}
					mu.Lock()
					errorsBy[errorKind(err)]++
					mu.Unlock()
					continue
				}
				local = append(local, d)
				done.Add(1)
			}
		})
	}
	stopProgress := make(chan struct{})
	var pwg sync.WaitGroup
	if progress != nil {
		pwg.Go(func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					progress(int(done.Load()), time.Since(start))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopProgress)
	pwg.Wait()

	res := benchResult{
		Workload: spec.Workload, Clients: spec.Clients, Conns: len(conns), Batch: spec.Batch,
		Ops: len(lat), ErrorsBy: errorsBy, Elapsed: elapsed, ElapsedSec: elapsed.Seconds(),
	}
	if spec.Workload != "put" {
		res.Consistency = spec.Consistency.String()
	}
	for _, n := range errorsBy {
		res.Errors += n
	}
	if elapsed > 0 {
		res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	}
	res.Latency = summarize(lat)
	return res, nil
}

// summarize computes latency percentiles (nearest rank).
func summarize(lat []time.Duration) latencySummaryMs {
	if len(lat) == 0 {
		return latencySummaryMs{}
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	at := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.5) - 1
		return ms(lat[max(0, min(i, len(lat)-1))])
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return latencySummaryMs{
		P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999),
		Max: ms(lat[len(lat)-1]), Mean: ms(sum / time.Duration(len(lat))),
	}
}

// errorKind names an error by the client sentinel it matches.
func errorKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{client.ErrNotFound, "not_found"},
		{client.ErrInvalidArgument, "invalid_argument"},
		{client.ErrOutcomeUnknown, "outcome_unknown"},
		{client.ErrNoQuorum, "no_quorum"},
		{client.ErrNoLeader, "no_leader"},
		{client.ErrStale, "stale"},
		{context.DeadlineExceeded, "deadline_exceeded"},
		{client.ErrUnavailable, "unavailable"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

// printBench writes the human-readable report.
func printBench(w io.Writer, r benchResult) error {
	what := r.Workload
	if r.Consistency != "" {
		what += " (" + r.Consistency + ")"
	}
	calls := "batched calls"
	if !r.Batch {
		calls = "unary calls"
	}
	_, err := fmt.Fprintf(w, `%s: %d clients over %d connections, %s
  ops:      %d in %.2fs, errors %d
  ops/s:    %.0f
  latency:  p50 %.3fms  p90 %.3fms  p99 %.3fms  p99.9 %.3fms  max %.3fms  mean %.3fms
`, what, r.Clients, r.Conns, calls, r.Ops, r.ElapsedSec, r.Errors, r.OpsPerSec,
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Latency.Mean)
	if err != nil {
		return err
	}
	kinds := make([]string, 0, len(r.ErrorsBy))
	for k := range r.ErrorsBy {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		if _, err := fmt.Fprintf(w, "  errors:   %s %d\n", k, r.ErrorsBy[k]); err != nil {
			return err
		}
	}
	return nil
}
