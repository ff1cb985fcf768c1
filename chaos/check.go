package chaos

import (
	"fmt"
	"math"
	"time"

	"github.com/anishathalye/porcupine"
)

// FailureKind classifies what a run found wrong.
type FailureKind string

// Failure kinds, from the history checks and from the cluster checks.
const (
	// KindNonLinearizable: porcupine found no linearization of some key's
	// history.
	KindNonLinearizable FailureKind = "nonlinearizable"
	// KindCheckTimeout: porcupine gave up before deciding (not an anomaly,
	// but the run proved nothing).
	KindCheckTimeout FailureKind = "checker-timeout"
	// KindLostWrite: an acknowledged put, delete or swap is not visible after the
	// cluster healed and no write that may have followed it explains why.
	KindLostWrite FailureKind = "lost-write"
	// KindPhantomRead: a get returned a value no put ever wrote.
	KindPhantomRead FailureKind = "phantom-read"
	// KindFailedWriteSeen: a get returned the value of a put or cas that the
	// client reported as not applied (a definite error, not
	// ErrOutcomeUnknown, or a cas answered "not swapped").
	KindFailedWriteSeen FailureKind = "failed-write-seen"
	// KindStaleMetadata: a STALE get returned a value that did not exist at
	// the applied index its response claims: the value's mod index is past
	// that index, differs from the index its put was acknowledged at, or
	// an acknowledged write to the key at or below that index replaced it.
	KindStaleMetadata FailureKind = "stale-read-metadata"
	// KindDivergence: after healing, replicas disagree on their applied
	// index or content, or did not converge in time.
	KindDivergence FailureKind = "divergence"
	// KindUnavailable: after healing, the cluster did not serve the final
	// reads (or elect a leader) in time.
	KindUnavailable FailureKind = "unavailable-after-heal"
	// KindHarness: the harness itself failed (a node would not start, a
	// fault could not be injected); the run proves nothing.
	KindHarness FailureKind = "harness"
)

// Failure is one problem found by a run.
type Failure struct {
	// Kind classifies it.
	Kind FailureKind `json:"kind"`
	// Detail says precisely what was seen.
	Detail string `json:"detail"`
	// More, when set, makes this entry stand for that many further
	// failures of its kind that are not listed one by one.
	More int `json:"more,omitempty"`
}

// String renders the failure as "kind: detail".
func (f Failure) String() string { return fmt.Sprintf("%s: %s", f.Kind, f.Detail) }

// maxPerKind caps how many failures of one kind are listed in detail.
const maxPerKind = 20

// HistoryResult is the outcome of CheckHistory.
type HistoryResult struct {
	// Linearizable is porcupine's verdict: Ok, Illegal or Unknown (timeout).
	Linearizable porcupine.CheckResult
	// Info is porcupine's linearization data, for the visualization.
	Info porcupine.LinearizationInfo
	// Failures are every failed check.
	Failures []Failure
}

// CheckHistory checks a history: linearizability per key (porcupine, at
// most timeout), then lost acknowledged writes against the final reads, and
// values that no (applied) write produced.
func CheckHistory(ops []Op, timeout time.Duration) HistoryResult {
	var r HistoryResult
	r.Linearizable, r.Info = porcupine.CheckOperationsVerbose(kvModel, toPorcupine(ops), timeout)
	switch r.Linearizable {
	case porcupine.Illegal:
		r.Failures = append(r.Failures, Failure{Kind: KindNonLinearizable, Detail: "porcupine found no linearization (see the visualization)"})
	case porcupine.Unknown:
		r.Failures = append(r.Failures, Failure{Kind: KindCheckTimeout, Detail: fmt.Sprintf("porcupine did not finish within %v", timeout)})
	}
	r.Failures = append(r.Failures, checkValues(ops)...)
	r.Failures = append(r.Failures, checkLostWrites(ops)...)
	r.Failures = append(r.Failures, checkStaleReads(ops)...)
	return r
}

// writesValue reports whether op is a put or cas, the operations that
// write a (unique) value.
func writesValue(op Op) bool { return op.Kind == OpPut || op.Kind == OpCAS }

// notApplied reports whether the client learned that op wrote nothing: a
// definite error, or a cas answered "not swapped".
func notApplied(op Op) bool {
	return op.Outcome == OutcomeFailed || (op.Kind == OpCAS && op.Outcome == OutcomeOK && !op.Found)
}

// acknowledgedWrite reports whether op is a write the client was told took
// effect: a put, a delete, or a cas that swapped.
func acknowledgedWrite(op Op) bool {
	if op.Final || op.Outcome != OutcomeOK {
		return false
	}
	return op.Kind == OpPut || op.Kind == OpDelete || (op.Kind == OpCAS && op.Found)
}

// effReturn is when a write may last have taken effect: its return time if
// the client knows it applied, +inf if the outcome is unknown.
func effReturn(op Op) int64 {
	if op.Outcome == OutcomeUnknown {
		return math.MaxInt64
	}
	return op.Return
}

// checkValues reports gets that returned a value no put or cas wrote, or
// that only a write known not to have applied wrote.
func checkValues(ops []Op) []Failure {
	writer := map[string]Op{} // value -> put
	for _, op := range ops {
		if writesValue(op) {
			writer[op.Value] = op
		}
	}
	var out []Failure
	count := map[FailureKind]int{}
	add := func(k FailureKind, format string, args ...any) {
		if count[k]++; count[k] <= maxPerKind {
			out = append(out, Failure{Kind: k, Detail: fmt.Sprintf(format, args...)})
		}
	}
	for _, op := range ops {
		if (op.Kind != OpGet && op.Kind != OpStaleGet) || op.Outcome != OutcomeOK || !op.Found {
			continue
		}
		w, ok := writer[op.Value]
		switch {
		case !ok || w.Key != op.Key:
			add(KindPhantomRead, "op %d: client %d get(%s) at [%s, %s] from %s returned %q, which no put or cas to that key wrote",
				op.ID, op.Client, op.Key, ms(op.Call), ms(op.Return), op.Node, op.Value)
		case w.Outcome == OutcomeFailed:
			add(KindFailedWriteSeen, "op %d: client %d get(%s) at [%s, %s] from %s returned %q, written by op %d which failed with %q",
				op.ID, op.Client, op.Key, ms(op.Call), ms(op.Return), op.Node, op.Value, w.ID, w.Err)
		case notApplied(w):
			add(KindFailedWriteSeen, "op %d: client %d get(%s) at [%s, %s] from %s returned %q, the new value of op %d's cas, which answered that it did not swap",
				op.ID, op.Client, op.Key, ms(op.Call), ms(op.Return), op.Node, op.Value, w.ID)
		}
	}
	for k, n := range count {
		if n > maxPerKind {
			out = append(out, Failure{Kind: k, Detail: fmt.Sprintf("... and %d more", n-maxPerKind), More: n - maxPerKind})
		}
	}
	return out
}

// checkLostWrites compares every acknowledged write with the final read of
// its key. Values are unique, so if the final value was written by a put
// that returned before the acknowledged write w was invoked, w must have
// been linearized after it, and nothing can have restored that value: w
// (and every later write) was lost. A final "not found" is explained only by
// a delete that did not return before w was invoked.
func checkLostWrites(ops []Op) []Failure {
	final := map[string]Op{}
	writer := map[string]Op{}
	deletes := map[string][]Op{}
	for _, op := range ops {
		switch {
		case op.Final && op.Outcome == OutcomeOK:
			final[op.Key] = op
		case writesValue(op):
			writer[op.Value] = op
		case op.Kind == OpDelete && op.Outcome != OutcomeFailed:
			deletes[op.Key] = append(deletes[op.Key], op)
		}
	}
	var out []Failure
	n := 0
	for _, w := range ops {
		if !acknowledgedWrite(w) {
			continue
		}
		f, ok := final[w.Key]
		if !ok {
			continue // no final read; reported as unavailable elsewhere
		}
		var lost string
		if f.Found {
			src, ok := writer[f.Value]
			if ok && src.ID != w.ID && effReturn(src) < w.Call {
				lost = fmt.Sprintf("final read returned %q, written by op %d which returned at %s, before this write began",
					f.Value, src.ID, ms(src.Return))
			}
		} else if writesValue(w) {
			explained := false
			for _, d := range deletes[w.Key] {
				if effReturn(d) >= w.Call {
					explained = true
					break
				}
			}
			if !explained {
				lost = "final read found the key missing and no delete may have followed this put"
			}
		}
		if lost == "" {
			continue
		}
		if n++; n <= maxPerKind {
			desc := fmt.Sprintf("%s(%s, %q)", w.Kind, w.Key, w.Value)
			if w.Kind == OpDelete {
				desc = fmt.Sprintf("delete(%s)", w.Key)
			}
			out = append(out, Failure{Kind: KindLostWrite, Detail: fmt.Sprintf("op %d: client %d %s acknowledged at [%s, %s] by %s: %s",
				w.ID, w.Client, desc, ms(w.Call), ms(w.Return), w.Node, lost)})
		}
	}
	if n > maxPerKind {
		out = append(out, Failure{Kind: KindLostWrite, Detail: fmt.Sprintf("... and %d more", n-maxPerKind), More: n - maxPerKind})
	}
	return out
}

// checkStaleReads checks that every STALE get that found its key returned
// a value that existed at the applied index its response header claims,
// using the raft indexes of acknowledged writes. (A get that found nothing
// carries no header, so it is not checked.)
func checkStaleReads(ops []Op) []Failure {
	writer := map[string]Op{}
	byKey := map[string][]Op{} // acknowledged writes with their index
	for _, op := range ops {
		if writesValue(op) {
			writer[op.Value] = op
		}
		if acknowledgedWrite(op) && op.Index > 0 {
			byKey[op.Key] = append(byKey[op.Key], op)
		}
	}
	var out []Failure
	n := 0
	for _, op := range ops {
		if op.Kind != OpStaleGet || op.Outcome != OutcomeOK || !op.Found {
			continue
		}
		var bad string
		w, ok := writer[op.Value]
		switch {
		case op.Index > op.Applied:
			bad = fmt.Sprintf("its mod index %d is past the applied index %d in the response header", op.Index, op.Applied)
		case ok && acknowledgedWrite(w) && w.Index != 0 && w.Index != op.Index:
			bad = fmt.Sprintf("mod index %d, but op %d's %s of that value was acknowledged at index %d", op.Index, w.ID, w.Kind, w.Index)
		default:
			for _, x := range byKey[op.Key] {
				if x.Index > op.Index && x.Index <= op.Applied {
					bad = fmt.Sprintf("the header claims applied index %d, which covers op %d's %s at index %d that replaced this value (mod index %d)",
						op.Applied, x.ID, x.Kind, x.Index, op.Index)
					break
				}
			}
		}
		if bad == "" {
			continue
		}
		if n++; n <= maxPerKind {
			out = append(out, Failure{Kind: KindStaleMetadata, Detail: fmt.Sprintf("op %d: client %d stale get(%s) at [%s, %s] from %s returned %q: %s",
				op.ID, op.Client, op.Key, ms(op.Call), ms(op.Return), op.Node, op.Value, bad)})
		}
	}
	if n > maxPerKind {
		out = append(out, Failure{Kind: KindStaleMetadata, Detail: fmt.Sprintf("... and %d more", n-maxPerKind), More: n - maxPerKind})
	}
	return out
}

// ms formats a history time for messages.
func ms(ns int64) string {
	return fmt.Sprintf("%.3fs", float64(ns)/1e9)
}
