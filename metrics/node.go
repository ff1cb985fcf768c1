package metrics

import (
	"context"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftkv/raftkv/raftnode"
)

// Roles are the values of the role label of raftkv_raft_role, in the order
// raftnode reports them.
var Roles = []string{"leader", "follower", "candidate", "shutdown"}

// StatusSource is what NodeCollector reads from a raft node. *raftnode.Node
// implements it. Both methods must be cheap and must not block: they run on
// every scrape.
type StatusSource interface {
	// Status returns the node's current raft state.
	Status() raftnode.Status
	// Members returns the latest known configuration.
	Members(ctx context.Context) ([]raftnode.Member, error)
}

// Files names the on-disk files NodeCollector reports sizes for. An empty
// path is skipped.
type Files struct {
	// StorePath is the bbolt state machine file (store.db).
	StorePath string
	// RaftLogPath is the raft log and stable store: a file (raft.db) or a
	// directory (wal/), whose files' sizes are summed.
	RaftLogPath string
	// SnapshotDir is the directory holding raft's snapshots/ folder (the
	// raft data dir).
	SnapshotDir string
}

// NodeCollector is a prometheus.Collector that reads a node's state at
// scrape time, so gauges are never stale and nothing runs between scrapes.
type NodeCollector struct {
	src   StatusSource
	files Files

	info, role, isLeader, hasLeader, voter, term           *prometheus.Desc
	lastLog, commit, applied, applyLag                     *prometheus.Desc
	lastContact, degraded, degradedSince                   *prometheus.Desc
	members, voters                                        *prometheus.Desc
	storeSize, raftLogSize                                 *prometheus.Desc
	snapIndex, snapTerm, snapSize, snapTime, snapsRetained *prometheus.Desc
}

// NewNodeCollector returns a collector for src and files.
func NewNodeCollector(src StatusSource, files Files) *NodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("raftkv_"+name, help, labels, nil)
	}
	return &NodeCollector{
		src:   src,
		files: files,

		info:      d("node_info", "Always 1; labels identify the node.", "node_id", "raft_addr"),
		role:      d("raft_role", "1 for the node's current raft role, 0 for the others.", "role"),
		isLeader:  d("raft_is_leader", "1 if this node is the raft leader."),
		hasLeader: d("raft_has_leader", "1 if this node knows a leader."),
		voter:     d("raft_voter", "1 if this node is a voter in its latest configuration."),
		term:      d("raft_term", "Current raft term."),
		lastLog:   d("raft_last_log_index", "Index of the last entry in the raft log (or the last snapshot)."),
		commit:    d("raft_commit_index", "Highest raft index known to be committed."),
		applied:   d("raft_applied_index", "Highest raft index applied to the state machine."),
		applyLag:  d("raft_apply_lag_entries", "Committed entries not yet applied here (commit index minus applied index)."),
		lastContact: d("raft_leader_last_contact_seconds",
			"Seconds since this node last heard from the leader: 0 on the leader, -1 if never."),
		degraded: d("raft_degraded", "1 when the node has lost contact with a quorum and refuses writes and linearizable reads."),
		degradedSince: d("raft_degraded_since_timestamp_seconds",
			"Unix time of the last sign of a leader when degraded, 0 otherwise."),
		members:       d("raft_members", "Servers in this node's latest configuration."),
		voters:        d("raft_voters", "Voters in this node's latest configuration."),
		storeSize:     d("store_db_size_bytes", "Size of the bbolt state machine file (store.db)."),
		raftLogSize:   d("raft_log_db_size_bytes", "Size of the raft log and stable store (raft.db, or the files in wal/; WAL segments are preallocated)."),
		snapIndex:     d("snapshot_last_index", "Raft index of the newest local snapshot, 0 if none."),
		snapTerm:      d("snapshot_last_term", "Raft term of the newest local snapshot, 0 if none."),
		snapSize:      d("snapshot_last_size_bytes", "Size of the newest local snapshot, 0 if none."),
		snapTime:      d("snapshot_last_timestamp_seconds", "Unix time the newest local snapshot was taken, 0 if none."),
		snapsRetained: d("snapshots_retained", "Snapshots kept on disk."),
	}
}

// Describe implements prometheus.Collector.
func (c *NodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.info, c.role, c.isLeader, c.hasLeader, c.voter, c.term,
		c.lastLog, c.commit, c.applied, c.applyLag,
		c.lastContact, c.degraded, c.degradedSince,
		c.members, c.voters, c.storeSize, c.raftLogSize,
		c.snapIndex, c.snapTerm, c.snapSize, c.snapTime, c.snapsRetained,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *NodeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.info, 1, string(st.ID), st.RaftAddr)
	for _, r := range Roles {
		gauge(c.role, boolFloat(st.Role == r), r)
	}
	gauge(c.isLeader, boolFloat(st.Role == "leader"))
	gauge(c.hasLeader, boolFloat(st.LeaderID != ""))
	gauge(c.voter, boolFloat(st.Voter))
	gauge(c.term, float64(st.Term))
	gauge(c.lastLog, float64(st.LastLogIndex))
	gauge(c.commit, float64(st.CommitIndex))
	gauge(c.applied, float64(st.AppliedIndex))
	lag := 0.0
	if st.CommitIndex > st.AppliedIndex {
		lag = float64(st.CommitIndex - st.AppliedIndex)
	}
	gauge(c.applyLag, lag)
	contact := -1.0
	if st.LastContact >= 0 {
		contact = st.LastContact.Seconds()
	}
	gauge(c.lastContact, contact)
	gauge(c.degraded, boolFloat(st.Degraded))
	since := 0.0
	if st.Degraded && !st.DegradedSince.IsZero() {
		since = float64(st.DegradedSince.UnixNano()) / 1e9
	}
	gauge(c.degradedSince, since)

	// Members answers from memory; the timeout only guards the contract.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if ms, err := c.src.Members(ctx); err == nil {
		voters := 0
		for _, m := range ms {
			if m.Voter {
				voters++
			}
		}
		gauge(c.members, float64(len(ms)))
		gauge(c.voters, float64(voters))
	}

	if size, ok := fileSize(c.files.StorePath); ok {
		gauge(c.storeSize, float64(size))
	}
	if size, ok := fileSize(c.files.RaftLogPath); ok {
		gauge(c.raftLogSize, float64(size))
	}
	if c.files.SnapshotDir != "" {
		snaps := listSnapshots(c.files.SnapshotDir)
		var last snapshotMeta
		if len(snaps) > 0 {
			last = snaps[0]
		}
		gauge(c.snapIndex, float64(last.Index))
		gauge(c.snapTerm, float64(last.Term))
		gauge(c.snapSize, float64(last.Size))
		ts := 0.0
		if !last.Taken.IsZero() {
			ts = float64(last.Taken.UnixNano()) / 1e9
		}
		gauge(c.snapTime, ts)
		gauge(c.snapsRetained, float64(len(snaps)))
	}
}

func fileSize(path string) (int64, bool) {
	if path == "" {
		return 0, false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	if !fi.IsDir() {
		return fi.Size(), true
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return 0, false
	}
	var total int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			total += info.Size()
		}
	}
	return total, true
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
