package server

import "github.com/prometheus/client_golang/prometheus"

// Descriptions of the Batch stream metrics. The calls a stream carries are
// also counted per method, like unary calls, by metrics.GRPC.
var (
	batchStreamsDesc = prometheus.NewDesc(
		"raftkv_batch_streams",
		"Batch streams open on this node (the Go client keeps one per connection).",
		nil, nil,
	)
	batchMessagesDesc = prometheus.NewDesc(
		"raftkv_batch_messages_received_total",
		"BatchRequest messages received on Batch streams; raftkv_batch_calls_received_total divided by it is the mean number of calls per message.",
		nil, nil,
	)
	batchCallsDesc = prometheus.NewDesc(
		"raftkv_batch_calls_received_total",
		"Calls received on Batch streams.",
		nil, nil,
	)
)

// batchCounters exports the rpc server's Batch stream counts at scrape time.
type batchCounters struct{ s *Server }

// Describe implements prometheus.Collector.
func (b batchCounters) Describe(ch chan<- *prometheus.Desc) {
	ch <- batchStreamsDesc
	ch <- batchMessagesDesc
	ch <- batchCallsDesc
}

// Collect implements prometheus.Collector.
func (b batchCounters) Collect(ch chan<- prometheus.Metric) {
	st := b.s.api.BatchStats()
	ch <- prometheus.MustNewConstMetric(batchStreamsDesc, prometheus.GaugeValue, float64(st.Streams))
	ch <- prometheus.MustNewConstMetric(batchMessagesDesc, prometheus.CounterValue, float64(st.Messages))
	ch <- prometheus.MustNewConstMetric(batchCallsDesc, prometheus.CounterValue, float64(st.Calls))
}
