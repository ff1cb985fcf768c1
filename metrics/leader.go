package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftkv/raftkv/raftnode"
)

// recentLeaderChanges is how many leader changes LeaderTracker keeps for
// the status page.
const recentLeaderChanges = 20

// LeaderSource is what LeaderTracker watches. *raftnode.Node implements it.
type LeaderSource interface {
	// Status returns the node's current raft state.
	Status() raftnode.Status
	// LeaderChanged returns a channel closed at the next leader change
	// (including to "no leader" and on shutdown).
	LeaderChanged() <-chan struct{}
}

// LeaderChange is one leader change seen by this node.
type LeaderChange struct {
	// At is when this node saw the change.
	At time.Time `json:"at"`
	// LeaderID is the new leader, "" when the node lost its leader.
	LeaderID string `json:"leader_id"`
	// Term is the node's raft term when it saw the change.
	Term uint64 `json:"term"`
}

// LeaderTracker counts the leader changes a node sees and remembers the
// most recent ones. It is a prometheus.Collector exporting
// raftkv_raft_leader_changes_total (changes to a known leader, the
// etcd_server_leader_changes_seen_total habit; losing a leader is not
// counted, electing the next one is). Start begins watching and Close
// stops; both are safe to call once each.
type LeaderTracker struct {
	src     LeaderSource
	changes prometheus.Counter
	stop    chan struct{}
	done    chan struct{}

	mu     sync.Mutex     // guards the fields below
	last   string         // leader last seen, "" if none
	recent []LeaderChange // newest last, at most recentLeaderChanges
}

// NewLeaderTracker returns a tracker for src; call Start to begin.
func NewLeaderTracker(src LeaderSource) *LeaderTracker {
	return &LeaderTracker{
		src: src,
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raftkv_raft_leader_changes_total",
			Help: "Leader changes seen by this node (each time it learns of a new leader).",
		}),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
}

// Start records the current leader and watches for changes in a goroutine
// owned by the tracker until Close.
func (t *LeaderTracker) Start() {
	ch := t.src.LeaderChanged()
	t.observe()
	go func() {
		defer close(t.done)
		for {
			select {
			case <-t.stop:
				return
			case <-ch:
				// Fetch the next channel before reading the leader, so a
				// change in between is not missed.
				ch = t.src.LeaderChanged()
				t.observe()
			}
		}
	}()
}

// Close stops watching and waits for the goroutine to exit. It must be
// called only after Start.
func (t *LeaderTracker) Close() {
	close(t.stop)
	<-t.done
}

func (t *LeaderTracker) observe() {
	st := t.src.Status()
	leader := string(st.LeaderID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if leader == t.last {
		return
	}
	t.last = leader
	if leader != "" {
		t.changes.Inc()
	}
	t.recent = append(t.recent, LeaderChange{At: time.Now(), LeaderID: leader, Term: st.Term})
	if len(t.recent) > recentLeaderChanges {
		t.recent = t.recent[len(t.recent)-recentLeaderChanges:]
	}
}

// Recent returns the most recent leader changes seen, oldest first.
func (t *LeaderTracker) Recent() []LeaderChange {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]LeaderChange(nil), t.recent...)
}

// Describe implements prometheus.Collector.
func (t *LeaderTracker) Describe(ch chan<- *prometheus.Desc) { t.changes.Describe(ch) }

// Collect implements prometheus.Collector.
func (t *LeaderTracker) Collect(ch chan<- prometheus.Metric) { t.changes.Collect(ch) }
