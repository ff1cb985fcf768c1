package server

import "github.com/prometheus/client_golang/prometheus"

// Descriptions of the admission-control gauges. Refusals are counted by
// raftkv_requests_refused_total{reason="OVERLOADED"} (metrics.GRPC).
var (
	inflightDesc = prometheus.NewDesc(
		"raftkv_inflight_requests",
		"Writes (Put, Delete, CompareAndSwap, Join) and reads (Get, List) this node is handling now, by kind; forwarded requests count on both nodes.",
		[]string{"kind"}, nil,
	)
	inflightLimitDesc = prometheus.NewDesc(
		"raftkv_inflight_requests_limit",
		"Admission limit on in-flight requests by kind (0: unlimited); requests beyond it are refused with ResourceExhausted/OVERLOADED.",
		[]string{"kind"}, nil,
	)
)

// admissionGauges exports the rpc server's in-flight counts and limits at
// scrape time.
type admissionGauges struct{ s *Server }

// Describe implements prometheus.Collector.
func (a admissionGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- inflightDesc
	ch <- inflightLimitDesc
}

// Collect implements prometheus.Collector.
func (a admissionGauges) Collect(ch chan<- prometheus.Metric) {
	w, r := a.s.api.Inflight()
	lw, lr := a.s.api.InflightLimits()
	ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(w), "write")
	ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(r), "read")
	ch <- prometheus.MustNewConstMetric(inflightLimitDesc, prometheus.GaugeValue, float64(lw), "write")
	ch <- prometheus.MustNewConstMetric(inflightLimitDesc, prometheus.GaugeValue, float64(lr), "read")
}
