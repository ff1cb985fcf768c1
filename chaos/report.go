package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Report is the result of one run.
type Report struct {
	// Seed reproduces the run's fault schedule and client choices.
	Seed uint64 `json:"seed"`
	// Nodes is the cluster size.
	Nodes int `json:"nodes"`
	// Duration is how long the faulty workload ran.
	Duration time.Duration `json:"duration_ns"`
	// Ops is the number of operations recorded; OK, Unknown and Failed
	// split them by outcome.
	Ops     int `json:"ops"`
	OK      int `json:"ok"`
	Unknown int `json:"unknown"`
	Failed  int `json:"failed"`
	// Checked is the number of operations given to porcupine (every
	// operation that did not fail, STALE gets excepted).
	Checked int `json:"checked"`
	// StaleGets counts successful STALE gets (checked by their metadata).
	StaleGets int `json:"stale_gets"`
	// CAS counts compare-and-swaps with a known outcome; Swapped those of
	// them that swapped.
	CAS     int `json:"cas"`
	Swapped int `json:"swapped"`
	// Linearizable is porcupine's verdict ("" if the check did not run).
	Linearizable string `json:"linearizable"`
	// Faults is the nemesis's log.
	Faults []FaultEvent `json:"faults"`
	// Failovers are, per leader SIGKILL, the time to the first acknowledged
	// write invoked after it.
	Failovers []time.Duration `json:"failovers_ns"`
	// MissedFailovers counts leader kills after which no write was
	// acknowledged before the workload ended.
	MissedFailovers int `json:"missed_failovers"`
	// Failures are the problems found; none means the run passed.
	Failures []Failure `json:"failures"`
	// ArtifactDir is the folder kept for this run ("" if removed).
	ArtifactDir string `json:"artifact_dir,omitempty"`

	dir string // the run's folder
}

// Passed reports whether the run found no problem.
func (r *Report) Passed() bool { return len(r.Failures) == 0 }

// FailureKinds counts failures by kind, including those not listed one by
// one.
func (r *Report) FailureKinds() map[FailureKind]int {
	m := map[FailureKind]int{}
	for _, f := range r.Failures {
		m[f.Kind] += max(f.More, 1)
	}
	return m
}

func (r *Report) fail(kind FailureKind, format string, args ...any) {
	r.Failures = append(r.Failures, Failure{Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) count(ops []Op) {
	r.Ops = len(ops)
	for _, op := range ops {
		switch op.Outcome {
		case OutcomeOK:
			r.OK++
		case OutcomeUnknown:
			r.Unknown++
		default:
			r.Failed++
		}
	}
	for _, op := range ops {
		if op.Kind == OpStaleGet && op.Outcome == OutcomeOK {
			r.StaleGets++
		}
		if op.Kind == OpCAS && op.Outcome == OutcomeOK {
			r.CAS++
			if op.Found {
				r.Swapped++
			}
		}
	}
	r.Checked = r.OK + r.Unknown - r.StaleGets
}

// runData is what a run's artifacts are made of.
type runData struct {
	ops  []Op
	hist HistoryResult
}

// finish writes the artifacts of a failed run (or of every run with
// KeepArtifacts) into the run's folder, or removes the folder.
func (r *Report) finish(cfg Config, c *Cluster, d *runData) error {
	if r.Passed() && !cfg.KeepArtifacts {
		if c != nil {
			c.Close() // the processes hold files in the folder
		}
		return os.RemoveAll(r.dir)
	}
	r.ArtifactDir = r.dir
	var errs []error
	if d != nil {
		errs = append(errs, WriteHistory(filepath.Join(r.dir, "history.json"), d.ops))
		info := d.hist.Info
		var notes []porcupine.Annotation
		for _, ev := range r.Faults {
			notes = append(notes, porcupine.Annotation{Tag: "nemesis", Start: ev.Start, End: ev.End,
				Description: string(ev.Kind), Details: ev.Detail, BackgroundColor: "#fbd3c9"})
		}
		info.AddAnnotations(notes)
		errs = append(errs, porcupine.VisualizePath(kvModel, info, filepath.Join(r.dir, "linearizability.html")))
	}
	b, err := json.MarshalIndent(r, "", " ")
	errs = append(errs, err, os.WriteFile(filepath.Join(r.dir, "report.json"), b, 0o644))
	// Node logs (n1.log, ...) are already in the folder, next to the data.
	return errors.Join(errs...)
}

// WriteSummary prints the run in a few lines.
func (r *Report) WriteSummary(w io.Writer) {
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s seed=%d nodes=%d: %d ops (%d ok, %d unknown, %d failed), %d checked by porcupine, linearizable=%s, %d stale gets, %d cas (%d swapped), %d faults, failovers %v",
		verdict, r.Seed, r.Nodes, r.Ops, r.OK, r.Unknown, r.Failed, r.Checked, r.Linearizable, r.StaleGets, r.CAS, r.Swapped, len(r.Faults), roundAll(r.Failovers))
	if r.MissedFailovers > 0 {
		fmt.Fprintf(w, " (+%d kills with no write acknowledged afterwards)", r.MissedFailovers)
	}
	fmt.Fprintln(w)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  %s\n", f)
	}
	if r.ArtifactDir != "" {
		fmt.Fprintf(w, "  artifacts: %s\n", r.ArtifactDir)
	}
}

// Summary aggregates many runs.
type Summary struct {
	// Runs, Passed: how many runs were made and passed.
	Runs, Passed int
	// Ops, Checked, Unknown, StaleGets, CAS and Swapped add up the runs'
	// counts.
	Ops, Checked, Unknown, StaleGets, CAS, Swapped int
	// Failures counts failures by kind over all runs.
	Failures map[FailureKind]int
	// Failovers are every run's failover times.
	Failovers []time.Duration
	// MissedFailovers adds up the runs' missed failovers.
	MissedFailovers int
	// FailedSeeds are the seeds of the runs that failed.
	FailedSeeds []uint64
}

// Add accounts for one run.
func (s *Summary) Add(r *Report) {
	if s.Failures == nil {
		s.Failures = map[FailureKind]int{}
	}
	s.Runs++
	if r.Passed() {
		s.Passed++
	} else {
		s.FailedSeeds = append(s.FailedSeeds, r.Seed)
	}
	s.Ops += r.Ops
	s.Checked += r.Checked
	s.Unknown += r.Unknown
	s.StaleGets += r.StaleGets
	s.CAS += r.CAS
	s.Swapped += r.Swapped
	for k, n := range r.FailureKinds() {
		s.Failures[k] += n
	}
	s.Failovers = append(s.Failovers, r.Failovers...)
	s.MissedFailovers += r.MissedFailovers
}

// Percentile returns the p-th percentile (0-100, nearest rank) of ds, or 0.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// WriteTo prints the summary.
func (s *Summary) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "runs: %d (%d passed)\nops: %d recorded, %d checked by porcupine (%d of unknown outcome), %d stale gets checked by metadata, %d cas (%d swapped)\n",
		s.Runs, s.Passed, s.Ops, s.Checked, s.Unknown, s.StaleGets, s.CAS, s.Swapped)
	if len(s.Failures) == 0 {
		b.WriteString("failures: none\n")
	} else {
		var kinds []string
		for k := range s.Failures {
			kinds = append(kinds, string(k))
		}
		sort.Strings(kinds)
		b.WriteString("failures:")
		for _, k := range kinds {
			fmt.Fprintf(&b, " %s=%d", k, s.Failures[FailureKind(k)])
		}
		fmt.Fprintf(&b, "\nfailed seeds: %v\n", s.FailedSeeds)
	}
	fmt.Fprintf(&b, "failover after leader SIGKILL: n=%d p50=%v p99=%v max=%v (missed: %d)\n", len(s.Failovers),
		Percentile(s.Failovers, 50).Round(time.Millisecond), Percentile(s.Failovers, 99).Round(time.Millisecond),
		Percentile(s.Failovers, 100).Round(time.Millisecond), s.MissedFailovers)
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
