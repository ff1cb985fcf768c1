package metrics

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// GRPC records gRPC server requests by method and status code, with a
// latency histogram, following go-grpc-middleware's grpc_server_* metrics
// under the raftkv_ prefix. It is a prometheus.Collector; install its
// interceptors with ServerOptions.
type GRPC struct {
	handled *prometheus.CounterVec
	latency *prometheus.HistogramVec
	reads   *prometheus.CounterVec // by requested consistency and code
	refused *prometheus.CounterVec // failed requests by ErrorInfo reason

	// readsOK are the reads series with code OK, by consistency label:
	// the common case, looked up once instead of per request.
	readsOK map[string]prometheus.Counter

	// methods caches, by full method name, what every request of that
	// method updates (*methodMetrics), so that a request costs no label
	// lookups or lock unless it fails. gRPC calls interceptors only for
	// registered methods, so it stays small.
	methods sync.Map

	mu         sync.Mutex                // guards perService
	perService map[string]*atomic.Uint64 // requests completed, by service
}

// methodMetrics are one method's series and its service's counter.
type methodMetrics struct {
	svc, method string
	ok          prometheus.Counter
	latency     prometheus.Observer
	served      *atomic.Uint64
}

// GRPCLatencyBuckets are the bounds, in seconds, of
// raftkv_grpc_server_handling_seconds: 0.5 ms to about 16 s, covering a
// local read up to a write that waits out a leader election.
var GRPCLatencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 16)

// NewGRPC returns an empty GRPC recorder.
func NewGRPC() *GRPC {
	g := &GRPC{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_grpc_server_handled_total",
			Help: "gRPC requests completed on this node, by service, method and status code.",
		}, []string{"grpc_service", "grpc_method", "grpc_code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "raftkv_grpc_server_handling_seconds",
			Help:    "Time to handle a gRPC request on this node (including forwarding to the leader), by service and method.",
			Buckets: GRPCLatencyBuckets,
		}, []string{"grpc_service", "grpc_method"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_reads_total",
			Help: "Get and List requests on this node, by requested consistency (linearizable, stale, bounded) and status code.",
		}, []string{"consistency", "grpc_code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftkv_requests_refused_total",
			Help: "Requests this node refused, by method and reason (NOT_LEADER, NO_LEADER, NO_QUORUM, STALE, OUTCOME_UNKNOWN, NOT_PROPOSED, SHUTTING_DOWN, or the status code when there is no reason).",
		}, []string{"grpc_method", "reason"}),
		perService: map[string]*atomic.Uint64{},
		readsOK:    map[string]prometheus.Counter{},
	}
	for _, c := range []kvpb.Consistency{kvpb.Consistency_LINEARIZABLE, kvpb.Consistency_STALE, kvpb.Consistency_BOUNDED} {
		label := consistencyLabel(c)
		g.readsOK[label] = g.reads.WithLabelValues(label, codes.OK.String())
	}
	return g
}

// method returns the cached series of fullMethod, creating them on its
// first request.
func (g *GRPC) method(fullMethod string) *methodMetrics {
	if m, ok := g.methods.Load(fullMethod); ok {
		return m.(*methodMetrics)
	}
	svc, method := splitMethod(fullMethod)
	m := &methodMetrics{
		svc:     svc,
		method:  method,
		ok:      g.handled.WithLabelValues(svc, method, codes.OK.String()),
		latency: g.latency.WithLabelValues(svc, method),
		served:  g.serviceCounter(svc),
	}
	actual, _ := g.methods.LoadOrStore(fullMethod, m)
	return actual.(*methodMetrics)
}

// serviceCounter returns svc's completed-requests counter.
func (g *GRPC) serviceCounter(svc string) *atomic.Uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.perService[svc]
	if !ok {
		c = new(atomic.Uint64)
		g.perService[svc] = c
	}
	return c
}

// ServerOptions returns the options that install GRPC's interceptors. They
// use grpc.UnaryInterceptor and grpc.StreamInterceptor (not the Chain
// variants) on purpose: gRPC runs that interceptor outermost, before every
// chained one, so it records the status code the client finally sees
// after the server's own error translation. A server may set each of these
// options only once.
func (g *GRPC) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.UnaryInterceptor(g.unary),
		grpc.StreamInterceptor(g.stream),
	}
}

// CallObserver returns the interceptor ServerOptions installs for unary
// calls, for the calls a Batch stream carries (rpc.Server.SetCallObserver),
// so they are counted per method like unary calls.
func (g *GRPC) CallObserver() grpc.UnaryServerInterceptor { return g.unary }

func (g *GRPC) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	g.observe(info.FullMethod, err, time.Since(start))
	g.observeRequest(info.FullMethod, req, err)
	return resp, err
}

// observeRequest counts reads by consistency and refusals by reason.
func (g *GRPC) observeRequest(fullMethod string, req any, err error) {
	var ro *kvpb.ReadOptions
	isRead := true
	switch r := req.(type) {
	case *kvpb.GetRequest:
		ro = r.GetRead()
	case *kvpb.ListRequest:
		ro = r.GetRead()
	default:
		isRead = false
	}
	if isRead {
		label := consistencyLabel(ro.GetConsistency())
		if err == nil {
			g.readsOK[label].Inc()
		} else {
			g.reads.WithLabelValues(label, status.Code(err).String()).Inc()
		}
	}
	if err == nil {
		return
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.NotFound, codes.InvalidArgument:
		return // answers about the data or the request, not refusals
	}
	reason := st.Code().String()
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
			reason = info.GetReason()
		}
	}
	_, method := splitMethod(fullMethod)
	g.refused.WithLabelValues(method, reason).Inc()
}

// consistencyLabel names a requested read level; unspecified means
// linearizable.
func consistencyLabel(c kvpb.Consistency) string {
	switch c {
	case kvpb.Consistency_STALE:
		return "stale"
	case kvpb.Consistency_BOUNDED:
		return "bounded"
	default:
		return "linearizable"
	}
}

func (g *GRPC) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod == kvpb.KV_Batch_FullMethodName {
		// A Batch stream is a connection's carrier, not a request: each
		// call it carries is counted, per method, by CallObserver.
		return handler(srv, ss)
	}
	start := time.Now()
	err := handler(srv, ss)
	g.observe(info.FullMethod, err, time.Since(start))
	return err
}

func (g *GRPC) observe(fullMethod string, err error, d time.Duration) {
	m := g.method(fullMethod)
	if err == nil {
		m.ok.Inc()
	} else {
		g.handled.WithLabelValues(m.svc, m.method, status.Code(err).String()).Inc()
	}
	m.latency.Observe(d.Seconds())
	m.served.Add(1)
}

// Handled returns how many requests for service (e.g. "kv.v1.KV") this
// node has completed, whatever their code; the status page derives ops/s
// from it.
func (g *GRPC) Handled(service string) uint64 {
	g.mu.Lock()
	c := g.perService[service]
	g.mu.Unlock()
	if c == nil {
		return 0
	}
	return c.Load()
}

// Initialize creates the OK series of every method registered on gs, at
// zero, so rates and ratios exist before the first request (as
// go-grpc-middleware's InitializeMetrics does).
func (g *GRPC) Initialize(gs *grpc.Server) {
	for svc, info := range gs.GetServiceInfo() {
		for _, m := range info.Methods {
			if "/"+svc+"/"+m.Name == kvpb.KV_Batch_FullMethodName {
				continue
			}
			g.handled.WithLabelValues(svc, m.Name, codes.OK.String())
			g.latency.WithLabelValues(svc, m.Name)
		}
	}
}

// splitMethod turns "/kv.v1.KV/Put" into ("kv.v1.KV", "Put").
func splitMethod(full string) (string, string) {
	full = strings.TrimPrefix(full, "/")
	if svc, m, ok := strings.Cut(full, "/"); ok {
		return svc, m
	}
	return "unknown", full
}

// Describe implements prometheus.Collector.
func (g *GRPC) Describe(ch chan<- *prometheus.Desc) {
	g.handled.Describe(ch)
	g.latency.Describe(ch)
	g.reads.Describe(ch)
	g.refused.Describe(ch)
}

// Collect implements prometheus.Collector.
func (g *GRPC) Collect(ch chan<- prometheus.Metric) {
	g.handled.Collect(ch)
	g.latency.Collect(ch)
	g.reads.Collect(ch)
	g.refused.Collect(ch)
}
