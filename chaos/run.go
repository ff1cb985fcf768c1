package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/raftkv/raftkv/client"
)

// Config configures one run.
type Config struct {
	// Seed drives the fault schedule and the clients' choices. Required to
	// reproduce a run; 0 is a valid seed.
	Seed uint64
	// Nodes is the cluster size (3 or 5). 0 means 3.
	Nodes int
	// KVD is the path of the kvd binary. Required.
	KVD string
	// Duration is how long clients run while faults are injected. 0 means
	// 20s.
	Duration time.Duration
	// Faults are the kinds the nemesis picks from. nil means AllFaults.
	Faults []FaultKind
	// Workload shapes the clients' traffic (see WorkloadConfig defaults).
	Workload WorkloadConfig
	// ArtifactRoot is where each run gets its folder (data, logs and, on
	// failure, the history and visualization). "" means
	// $TMPDIR/raftkv-chaos. A passing run's folder is removed unless
	// KeepArtifacts is set.
	ArtifactRoot string
	// KeepArtifacts keeps the folder, history and visualization of passing
	// runs too.
	KeepArtifacts bool
	// CheckTimeout bounds porcupine. 0 means 2 minutes.
	CheckTimeout time.Duration
	// HealTimeout bounds waiting, after the faults end, for a leader, the
	// final reads and replica convergence. 0 means 30s.
	HealTimeout time.Duration
	// ExtraFlags are appended to every kvd command line.
	ExtraFlags []string
	// Logf, if not nil, receives progress lines.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Duration == 0 {
		c.Duration = 20 * time.Second
	}
	if c.Faults == nil {
		c.Faults = AllFaults
	}
	if c.ArtifactRoot == "" {
		c.ArtifactRoot = filepath.Join(os.TempDir(), "raftkv-chaos")
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 2 * time.Minute
	}
	if c.HealTimeout == 0 {
		c.HealTimeout = 30 * time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Run performs one run: it builds the network and cluster, runs the
// workload under faults for cfg.Duration, heals everything, reads every key
// once more, checks convergence and the history, and tears everything down.
// Problems found are in Report.Failures; an error means the run could not
// be carried out (ErrUnsupported, or ctx ended), and the report, if not
// nil, is partial.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if cfg.Nodes != 3 && cfg.Nodes != 5 {
		return nil, fmt.Errorf("nodes = %d, want 3 or 5", cfg.Nodes)
	}
	if err := Supported(); err != nil {
		return nil, err
	}
	rep := &Report{Seed: cfg.Seed, Nodes: cfg.Nodes, Duration: cfg.Duration}
	if err := os.MkdirAll(cfg.ArtifactRoot, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.ArtifactRoot, fmt.Sprintf("seed-%d-", cfg.Seed))
	if err != nil {
		return nil, err
	}
	rep.dir = dir
	cfg.Logf("run seed=%d nodes=%d duration=%v dir=%s", cfg.Seed, cfg.Nodes, cfg.Duration, dir)

	nw, err := NewNetwork(ctx, cfg.Nodes)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	defer func() {
		if err := nw.Close(); err != nil {
			cfg.Logf("network cleanup: %v", err)
		}
	}()
	cfg.Logf("network %s: bridge %s, harness %s", nw.RunID, nw.Bridge, nw.HostIP)
	c, err := StartCluster(ctx, nw, ClusterConfig{Nodes: cfg.Nodes, KVD: cfg.KVD, Dir: dir, ExtraFlags: cfg.ExtraFlags, Logf: cfg.Logf})
	if err != nil {
		rep.fail(KindHarness, "start cluster: %v", err)
		return rep, rep.finish(cfg, nil, nil)
	}
	// Deferred calls run in reverse: processes go before the network.
	defer c.Close()
	if _, err := c.WaitLeader(ctx, cfg.HealTimeout); err != nil {
		rep.fail(KindHarness, "initial election: %v", err)
		return rep, rep.finish(cfg, c, nil)
	}

	rec := NewRecorder()
	events, err := runFaulty(ctx, cfg, c, nw, rec)
	rep.Faults = events
	if err != nil {
		rep.fail(KindHarness, "%v", err)
	}
	if ctx.Err() != nil {
		c.Close()
		_ = os.RemoveAll(dir)
		return rep, ctx.Err()
	}

	cfg.Logf("healing")
	heal(ctx, c, nw, rep)
	if _, err := c.WaitLeader(ctx, cfg.HealTimeout); err != nil {
		rep.fail(KindUnavailable, "no leader after healing: %v", err)
	}
	finalReads(ctx, cfg, c, rec, rep)
	ops := rec.Ops()
	rep.Failures = append(rep.Failures, checkConvergence(ctx, c, ops, cfg.HealTimeout)...)

	cfg.Logf("checking %d operations", len(ops))
	hr := CheckHistory(ops, cfg.CheckTimeout)
	rep.count(ops)
	rep.Linearizable = string(hr.Linearizable)
	rep.Failures = append(rep.Failures, hr.Failures...)
	rep.Failovers, rep.MissedFailovers = failovers(events, ops)
	return rep, rep.finish(cfg, c, &runData{ops: ops, hist: hr})
}

// runFaulty runs the workload and the nemesis side by side for
// cfg.Duration and returns the fault log.
func runFaulty(ctx context.Context, cfg Config, c *Cluster, nw *Network, rec *Recorder) ([]FaultEvent, error) {
	stop := make(chan struct{})
	timer := time.AfterFunc(cfg.Duration, func() { close(stop) })
	defer timer.Stop()
	var (
		wg      sync.WaitGroup
		wlErr   error
		events  []FaultEvent
		nemErr  error
		nemesis = NewNemesis(c, nw, rec, cfg.Faults, cfg.Seed, cfg.Logf)
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		wlErr = RunWorkload(ctx, stop, c, cfg.Workload, cfg.Seed, rec)
	}()
	go func() {
		defer wg.Done()
		events, nemErr = nemesis.Run(ctx, stop)
	}()
	wg.Wait()
	return events, errors.Join(wlErr, nemErr)
}

// heal removes every network fault and brings every node back.
func heal(ctx context.Context, c *Cluster, nw *Network, rep *Report) {
	if err := nw.Heal(ctx); err != nil {
		rep.fail(KindHarness, "heal network: %v", err)
	}
	for i := range c.Size() {
		switch c.State(i) {
		case NodePaused:
			if err := c.Resume(i); err != nil {
				rep.fail(KindHarness, "resume: %v", err)
			}
		case NodeDead:
			if err := c.Start(i); err != nil {
				rep.fail(KindHarness, "restart: %v", err)
			}
		}
	}
}

// finalReads reads every key linearizably once the cluster has healed,
// retrying each until it succeeds or the heal timeout passes. Every attempt
// is part of the history; failed ones are ignored by the checkers.
func finalReads(ctx context.Context, cfg Config, c *Cluster, rec *Recorder, rep *Report) {
	wl := cfg.Workload.withDefaults()
	cl, err := client.New(client.Config{Endpoints: c.Endpoints(), DialTimeout: time.Second})
	if err != nil {
		rep.fail(KindHarness, "final client: %v", err)
		return
	}
	defer cl.Close()
	deadline := time.Now().Add(cfg.HealTimeout)
	for k := range wl.Keys {
		key := keyName(k)
		for attempt := 0; ; attempt++ {
			// The final reads get the client id after the workload's.
			op := DoGet(ctx, cl, rec, wl.Clients, key, 2*time.Second)
			op.Final = true
			rec.Add(op)
			if op.Outcome == OutcomeOK {
				break
			}
			if time.Now().After(deadline) || attempt > 100 || pause(ctx, 100*time.Millisecond) != nil {
				rep.fail(KindUnavailable, "final read of %s failed %d times, last: %s", key, attempt+1, op.Err)
				break
			}
		}
	}
}

// failovers measures, for every SIGKILL of a leader, the time until the
// first write invoked after the kill was acknowledged (a cas that did not
// swap counts: it was committed). Kills followed by no
// acknowledged write before the workload ended are counted as missed.
func failovers(events []FaultEvent, ops []Op) (out []time.Duration, missed int) {
	for _, ev := range events {
		if !ev.LeaderKill {
			continue
		}
		best := int64(-1)
		for _, op := range ops {
			if (op.Kind == OpPut || op.Kind == OpDelete || op.Kind == OpCAS) && op.Outcome == OutcomeOK && op.Call >= ev.Start &&
				(best < 0 || op.Return < best) {
				best = op.Return
			}
		}
		if best < 0 {
			missed++
			continue
		}
		out = append(out, time.Duration(best-ev.Start))
	}
	return out, missed
}
