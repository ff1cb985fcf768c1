package chaos

import (
	"encoding/json"
	"os"
	"sort"
	"sync"
	"time"
)

// OpKind is the kind of a client operation.
type OpKind string

// Operation kinds.
const (
	OpGet    OpKind = "get"
	OpPut    OpKind = "put"
	OpDelete OpKind = "delete"
	// OpStaleGet is a STALE read from one node's local data; it is not
	// linearizable and is checked against its metadata instead.
	OpStaleGet OpKind = "stale-get"
	// OpCAS is a compare-and-swap: Value is written only if the key's
	// value is Old (or, without OldPresent, only if the key is absent).
	OpCAS OpKind = "cas"
)

// Outcome says what a client learned about its operation.
type Outcome string

// Outcomes.
const (
	// OutcomeOK means the operation succeeded (for a get, NotFound is a
	// successful read of a missing key).
	OutcomeOK Outcome = "ok"
	// OutcomeUnknown means a write may or may not have been applied
	// (client.ErrOutcomeUnknown or a deadline after it was sent).
	OutcomeUnknown Outcome = "unknown"
	// OutcomeFailed means the operation definitely did not take effect: a
	// read that returned an error, or a write the client reports as never
	// applied (no leader, no quorum, unavailable before sending).
	OutcomeFailed Outcome = "failed"
)

// Op is one client operation in a history. Times are nanoseconds since the
// run's workload started, from the monotonic clock.
type Op struct {
	// ID is the operation's position in the history.
	ID int `json:"id"`
	// Client is the zero-based client that issued it; each client's
	// operations are sequential.
	Client int `json:"client"`
	// Kind is get, stale-get, put, delete or cas.
	Kind OpKind `json:"kind"`
	// Key is the key operated on.
	Key string `json:"key"`
	// Value is the value written by a put or cas, or read by a successful
	// get that found the key.
	Value string `json:"value,omitempty"`
	// Old is, for a cas with OldPresent, the value it expected.
	Old string `json:"old,omitempty"`
	// OldPresent is, for a cas, whether it expected the key to exist (with
	// value Old) rather than to be absent.
	OldPresent bool `json:"old_present,omitempty"`
	// Found is, for a successful get, whether the key existed; for a
	// successful delete, whether it deleted an existing key; for a
	// successful cas, whether it swapped.
	Found bool `json:"found"`
	// Outcome is what the client learned.
	Outcome Outcome `json:"outcome"`
	// Call is when the operation was invoked.
	Call int64 `json:"call_ns"`
	// Return is when it returned (for unknown outcomes, when the client gave
	// up; the checker treats their effect as possibly arbitrarily late).
	Return int64 `json:"return_ns"`
	// Node is the node that served a successful operation, from the
	// response header (for a stale get, the node asked).
	Node string `json:"node,omitempty"`
	// Index is, for an acknowledged write, the raft index it committed at;
	// for a stale get that found the key, the key's mod index.
	Index uint64 `json:"index,omitempty"`
	// Applied is, for a stale get that found the key, the serving node's
	// applied index from the response header.
	Applied uint64 `json:"applied,omitempty"`
	// Err is the error text of a failed or unknown operation.
	Err string `json:"err,omitempty"`
	// Final marks the reads the harness makes after healing the cluster.
	Final bool `json:"final,omitempty"`
}

// Recorder collects a history from concurrent clients.
type Recorder struct {
	start time.Time

	mu  sync.Mutex // guards ops
	ops []Op
}

// NewRecorder starts a history whose time zero is now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the history time of this instant.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Since converts a wall-clock instant to history time.
func (r *Recorder) Since(t time.Time) int64 { return int64(t.Sub(r.start)) }

// Add records a completed operation; it is safe for concurrent use.
func (r *Recorder) Add(op Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.ID = len(r.ops)
	r.ops = append(r.ops, op)
}

// Ops returns a copy of the history sorted by invocation time.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	ops := append([]Op(nil), r.ops...)
	r.mu.Unlock()
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	return ops
}

// WriteHistory writes ops as indented JSON to path.
func WriteHistory(path string, ops []Op) error {
	b, err := json.MarshalIndent(ops, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
