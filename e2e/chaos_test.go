//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/chaos"
)

// chaosRun is one planned run of the fault-injection harness.
type chaosRun struct {
	seed     uint64
	nodes    int
	faults   string
	duration time.Duration
}

// ciChaosRuns is the short version run by `make test-e2e`: process faults,
// network faults, everything on five nodes, all with fixed seeds, plus one
// run from a fresh seed (printed) each time. About two minutes on 2 cores.
func ciChaosRuns() []chaosRun {
	return []chaosRun{
		{seed: 1, nodes: 3, faults: "kill-leader,kill-random,pause,rolling-pause", duration: 25 * time.Second},
		{seed: 2, nodes: 3, faults: "isolate-leader,split,one-way,flap,slow", duration: 25 * time.Second},
		{seed: 3, nodes: 5, faults: "all", duration: 25 * time.Second},
		{seed: rand.Uint64() >> 16, nodes: 3, faults: "all", duration: 25 * time.Second},
	}
}

// TestChaos runs kvd clusters in network namespaces under faults and checks
// the clients' history (package chaos). It needs root and skips otherwise.
//
// By default it runs ciChaosRuns. To run longer, set CHAOS_RUNS (runs from
// CHAOS_SEED, default random, each run using the next seed), and optionally
// CHAOS_NODES (3), CHAOS_FAULTS (all), CHAOS_DURATION (25s); remember
// -timeout 0. CHAOS_ARTIFACTS sets the artifact folder.
func TestChaos(t *testing.T) {
	err := chaos.Supported()
	if err != nil {
		t.Skipf("skipping the chaos harness: %v", err)
	}
	runs := ciChaosRuns()
	if n := envInt(t, "CHAOS_RUNS", 0); n > 0 {
		seed := rand.Uint64() >> 16
		if v := os.Getenv("CHAOS_SEED"); v != "" {
			if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
				t.Fatalf("CHAOS_SEED=%q: %v", v, err)
			}
		}
		runs = runs[:0]
		for i := range n {
			runs = append(runs, chaosRun{seed: seed + uint64(i), nodes: envInt(t, "CHAOS_NODES", 3),
				faults: envOr("CHAOS_FAULTS", "all"), duration: envDuration(t, "CHAOS_DURATION", 25*time.Second)})
		}
	}
	var sum chaos.Summary
	for _, r := range runs {
		t.Run(fmt.Sprintf("seed=%d/nodes=%d/%s", r.seed, r.nodes, r.faults), func(t *testing.T) {
			rep := runChaos(t, r)
			if rep != nil {
				sum.Add(rep)
			}
		})
	}
	var b strings.Builder
	_, _ = sum.WriteTo(&b)
	t.Logf("chaos summary:\n%s", b.String())
}

// TestChaos_CheckerCatchesStaleReads proves the pipeline has teeth: STALE
// gets recorded as if linearizable, under partitions, must make the run
// fail as nonlinearizable, with the visualization, history and node logs
// in its artifact folder.
func TestChaos_CheckerCatchesStaleReads(t *testing.T) {
	if err := chaos.Supported(); err != nil {
		t.Skipf("skipping the chaos harness: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rep, err := chaos.Run(ctx, chaos.Config{
		Seed: 7, KVD: filepath.Join(binDir, "kvd"), Duration: 12 * time.Second,
		Faults:       []chaos.FaultKind{chaos.FaultIsolateLeader, chaos.FaultSplit},
		Workload:     chaos.WorkloadConfig{ReadPct: 10, StalePct: 40, DeletePct: 10, StaleAsLinearizable: true},
		ArtifactRoot: t.TempDir(), CheckTimeout: time.Minute, Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("chaos run: %v", err)
	}
	var b strings.Builder
	rep.WriteSummary(&b)
	t.Log(strings.TrimSpace(b.String()))
	if rep.FailureKinds()[chaos.KindNonLinearizable] == 0 {
		t.Fatalf("stale reads passed as linearizable went unnoticed")
	}
	for _, f := range []string{"linearizability.html", "history.json", "report.json", "n1.log", "n3.log"} {
		if _, err := os.Stat(filepath.Join(rep.ArtifactDir, f)); err != nil {
			t.Errorf("artifact missing: %v", err)
		}
	}
}

func runChaos(t *testing.T, r chaosRun) *chaos.Report {
	faults, err := chaos.ParseFaults(r.faults)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), r.duration+4*time.Minute)
	defer cancel()
	t.Logf("seed %d, %d nodes, faults %s, %v", r.seed, r.nodes, r.faults, r.duration)
	rep, err := chaos.Run(ctx, chaos.Config{
		Seed: r.seed, Nodes: r.nodes, KVD: filepath.Join(binDir, "kvd"), Duration: r.duration, Faults: faults,
		ArtifactRoot: os.Getenv("CHAOS_ARTIFACTS"), CheckTimeout: time.Minute, Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("chaos run: %v", err)
	}
	var b strings.Builder
	rep.WriteSummary(&b)
	if !rep.Passed() {
		t.Errorf("%s\nrerun with: CHAOS_RUNS=1 CHAOS_SEED=%d CHAOS_NODES=%d CHAOS_FAULTS=%s CHAOS_DURATION=%v go test -tags e2e -count=1 -run TestChaos ./e2e/\n"+
			"or: make chaos SEED=%d RUNS=1 NODES=%d FAULTS=%s DURATION=%v",
			b.String(), r.seed, r.nodes, r.faults, r.duration, r.seed, r.nodes, r.faults, r.duration)
	} else {
		t.Log(strings.TrimSpace(b.String()))
	}
	return rep
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}
