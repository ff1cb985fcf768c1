package server

import "github.com/prometheus/client_golang/prometheus"

// Descriptions of the state machine store's commit metrics.
var (
	storeCommitsDesc = prometheus.NewDesc(
		"raftkv_store_commits_total",
		"bbolt write transactions the state machine committed; the rise of raftkv_raft_applied_index divided by its increase is the mean number of entries per commit.",
		nil, nil,
	)
	storeCommitTimeDesc = prometheus.NewDesc(
		"raftkv_store_commit_seconds_total",
		"Time the state machine spent committing bbolt write transactions, during which no entry is applied; divided by raftkv_store_commits_total it is the mean commit time.",
		nil, nil,
	)
	storeUncommittedDesc = prometheus.NewDesc(
		"raftkv_store_uncommitted_entries",
		"Applied entries visible to reads but not yet committed to store.db (--state-machine-commit-interval); a crash replays them from the raft log.",
		nil, nil,
	)
)

// storeCommits exports the store's commit counters at scrape time.
type storeCommits struct{ s *Server }

// Describe implements prometheus.Collector.
func (c storeCommits) Describe(ch chan<- *prometheus.Desc) {
	ch <- storeCommitsDesc
	ch <- storeCommitTimeDesc
	ch <- storeUncommittedDesc
}

// Collect implements prometheus.Collector.
func (c storeCommits) Collect(ch chan<- prometheus.Metric) {
	st := c.s.st.CommitStats()
	ch <- prometheus.MustNewConstMetric(storeCommitsDesc, prometheus.CounterValue, float64(st.Commits))
	ch <- prometheus.MustNewConstMetric(storeCommitTimeDesc, prometheus.CounterValue, st.CommitTime.Seconds())
	ch <- prometheus.MustNewConstMetric(storeUncommittedDesc, prometheus.GaugeValue, float64(st.UncommittedEntries))
}
