package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
)

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 1000; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := summarize(lat)
	if s.P50 != 500 || s.P90 != 900 || s.P99 != 990 || s.P999 != 999 || s.Max != 1000 || s.Mean != 500.5 {
		t.Fatalf("summary = %+v", s)
	}
	if (summarize(nil) != latencySummaryMs{}) {
		t.Fatal("empty summary not zero")
	}
}

func TestBenchKey(t *testing.T) {
	if k := benchKey(42, 8); k != "00000042" {
		t.Fatalf("benchKey(42, 8) = %q", k)
	}
	if k := benchKey(123456, 3); len(k) != 3 {
		t.Fatalf("benchKey keeps size: %q", k)
	}
}

func TestRunBench_CountsOpsAndErrors(t *testing.T) {
	f := newFakeClient()
	spec := benchSpec{Workload: "mixed", Clients: 4, Conns: 2, Total: 400, KeySize: 8, ValSize: 16, KeySpace: 10, ReadRatio: 0.5, Consistency: client.Stale}
	if err := spec.validate(); err != nil {
		t.Fatal(err)
	}
	res, err := runBench(context.Background(), spec, []kvClient{f, f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops+res.Errors != 400 || res.Errors != 0 || res.OpsPerSec <= 0 || res.Latency.Max <= 0 {
		t.Fatalf("result = %+v", res)
	}
	var out bytes.Buffer
	if err := printBench(&out, res); err != nil || !strings.Contains(out.String(), "ops/s") {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatal(err)
	}

	f.err = client.ErrNoQuorum
	res, err = runBench(context.Background(), benchSpec{Workload: "put", Clients: 2, Conns: 1, Total: 10, KeySize: 8, KeySpace: 5}, []kvClient{f}, nil)
	if err != nil || res.Errors != 10 || res.ErrorsBy["no_quorum"] != 10 {
		t.Fatalf("errors = %+v, %v", res, err)
	}
}

func TestBenchSpec_Validate(t *testing.T) {
	good := benchSpec{Workload: "put", Clients: 8, Conns: 2, Total: 10, KeySize: 8, ValSize: 256, KeySpace: 100}
	for name, mutate := range map[string]func(*benchSpec){
		"workload":   func(s *benchSpec) { s.Workload = "scan" },
		"conns":      func(s *benchSpec) { s.Conns = 9 },
		"no total":   func(s *benchSpec) { s.Total = 0 },
		"key size":   func(s *benchSpec) { s.KeySize = 5000 },
		"read ratio": func(s *benchSpec) { s.ReadRatio = 2 },
	} {
		s := good
		mutate(&s)
		if err := s.validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
}

// TestRunBench_SequentialKeysLoadEveryKey: with --sequential-keys a put run
// of key-space operations writes every key exactly once.
func TestRunBench_SequentialKeysLoadEveryKey(t *testing.T) {
	f := newFakeClient()
	before := len(f.kvs)
	spec := benchSpec{Workload: "put", Clients: 8, Conns: 2, Total: 500, KeySize: 8, ValSize: 16, KeySpace: 500, Sequential: true}
	if err := spec.validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := runBench(context.Background(), spec, []kvClient{f, f}, nil); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.kvs) - before; n != 500 {
		t.Fatalf("%d distinct keys written, want all 500", n)
	}
	for i := range 500 {
		if _, ok := f.kvs[benchKey(i, 8)]; !ok {
			t.Fatalf("key %q not written", benchKey(i, 8))
		}
	}
}

// lateContext has a deadline but is done only when its parent is: it
// stands for a context whose timer fires late on a busy machine.
type lateContext struct {
	context.Context
	deadline time.Time
}

func (c lateContext) Deadline() (time.Time, bool) { return c.deadline, true }

// deadlineClient answers reads at once, and fails them with
// DeadlineExceeded once the context's deadline has passed (as the client
// library does, reading the clock) even when the context is not done yet.
type deadlineClient struct {
	kvClient
}

func (deadlineClient) Get(ctx context.Context, key string, _ ...client.ReadOption) (*client.GetResponse, error) {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return nil, context.DeadlineExceeded
	}
	return &client.GetResponse{KV: client.KeyValue{Key: key}}, nil
}

func (deadlineClient) Put(context.Context, string, []byte) (*client.PutResponse, error) {
	return &client.PutResponse{}, nil
}

// TestRunBench_EndsAtDeadline: a --duration run stops at its deadline by
// the clock, without counting the calls that failed only because the
// deadline passed while the context's timer had not fired yet.
func TestRunBench_EndsAtDeadline(t *testing.T) {
	// Done only after 20s, far beyond the 50ms deadline: a run that waited
	// for it would spin until then and count every spin as an error.
	parent, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ctx := lateContext{Context: parent, deadline: time.Now().Add(50 * time.Millisecond)}
	spec := benchSpec{Workload: "get", Clients: 4, Conns: 1, Duration: time.Minute, KeySize: 8, KeySpace: 1, Consistency: client.Stale}
	if err := spec.validate(); err != nil {
		t.Fatal(err)
	}
	res, err := runBench(ctx, spec, []kvClient{deadlineClient{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Ops == 0 {
		t.Fatalf("ops %d, errors %v; want ops and no errors", res.Ops, res.ErrorsBy)
	}
	if parent.Err() != nil {
		t.Fatal("the run ended only when the context was done, not at its deadline")
	}
}

// TestBench_ConnectionConfigs shows how bench sets up its connections: by
// default connection i prefers endpoint i mod n for stale reads (etcd's
// benchmark gives each connection one endpoint) and batches its calls;
// --pin-conns=false and --batch=false turn each off.
func TestBench_ConnectionConfigs(t *testing.T) {
	for _, tt := range []struct {
		flags     []string
		preferred []string
		batching  bool
	}{
		{nil, []string{"a:1", "b:2", "c:3", "a:1"}, true},
		{[]string{"--pin-conns=false", "--batch=false"}, []string{"", "", "", ""}, false},
	} {
		var mu sync.Mutex
		var cfgs []client.Config
		f := newFakeClient()
		a := &app{
			stdout: io.Discard,
			stderr: io.Discard,
			env:    func(string) string { return "" },
			dial: func(cfg client.Config) (kvClient, error) {
				mu.Lock()
				defer mu.Unlock()
				cfgs = append(cfgs, cfg)
				return f, nil
			},
		}
		args := append([]string{"--endpoints", "a:1,b:2,c:3", "bench", "get", "--consistency", "stale", "--clients", "4", "--conns", "4", "--total", "8", "--key-space", "1"}, tt.flags...)
		if code := a.execute(args); code != 0 {
			t.Fatalf("kvctl %v exited %d", args, code)
		}
		var got []string
		for _, cfg := range cfgs {
			got = append(got, cfg.PreferredEndpoint)
			if cfg.DisableBatching == tt.batching {
				t.Errorf("%v: DisableBatching = %v, want %v", tt.flags, cfg.DisableBatching, !tt.batching)
			}
		}
		if !slices.Equal(got, tt.preferred) {
			t.Errorf("%v: preferred endpoints %q, want %q", tt.flags, got, tt.preferred)
		}
	}
}
