package gateway

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// gatewayMetrics are the gateway's own metrics, registered on the registry
// given in Config (never the global one). The route label is the route's
// OpenAPI path ("/v1/kv/{key}"), never the request path, so its cardinality
// is the number of routes.
type gatewayMetrics struct {
	requests     *prometheus.CounterVec   // route, method, code
	latency      *prometheus.HistogramVec // route, method
	inFlight     prometheus.Gauge
	rateLimited  *prometheus.CounterVec // scope: ip | token
	authFailures *prometheus.CounterVec // reason: missing | invalid | forbidden
	reloads      *prometheus.CounterVec // result: ok | error
	tokens       prometheus.Gauge
}

// newGatewayMetrics registers the metrics on reg; it fails when reg already
// holds them (one registry per gateway).
func newGatewayMetrics(reg prometheus.Registerer) (*gatewayMetrics, error) {
	m := &gatewayMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_gateway_requests_total",
			Help: "HTTP requests answered by the gateway, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "raftkv_gateway_request_duration_seconds",
			Help: "Time from receiving a request to the end of its answer, by route and method.",
			// 0.5ms .. ~16s: local reads are sub-millisecond, writes a few ms,
			// failovers up to seconds.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "raftkv_gateway_requests_in_flight",
			Help: "Requests being served now.",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_gateway_rate_limited_total",
			Help: "Requests refused with 429, by the bucket that refused them (ip or token).",
		}, []string{"scope"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_gateway_auth_failures_total",
			Help: "Requests refused by authentication (missing or invalid token: 401) or authorization (forbidden: 403).",
		}, []string{"reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_gateway_token_reloads_total",
			Help: "Token file reloads, by result (ok, or error: the previous tokens stay in force).",
		}, []string{"result"}),
		tokens: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "raftkv_gateway_tokens",
			Help: "Tokens in the token file in force.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.inFlight, m.rateLimited, m.authFailures, m.reloads, m.tokens} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register gateway metrics: %w", err)
		}
	}
	// Start the series at zero so that rate() and alerts see them at once.
	for _, s := range []string{"ip", "token"} {
		m.rateLimited.WithLabelValues(s)
	}
	for _, r := range []string{"missing", "invalid", "forbidden"} {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.reloads.WithLabelValues(r)
	}
	return m, nil
}

// observe records one answered request.
func (m *gatewayMetrics) observe(route, method string, status int, seconds float64) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(seconds)
}

// metricsHandler serves reg; a failing collector is reported in the answer
// without hiding the other metrics.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg,
		ErrorHandling: promhttp.ContinueOnError,
	})
}
