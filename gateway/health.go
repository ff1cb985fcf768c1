package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// readiness caches the cluster probe of /readyz, so that frequent probes
// by several load balancers cost the cluster one Members call per TTL.
type readiness struct {
	mu sync.Mutex
	// The fields below are guarded by mu, which is held during a probe so
	// that concurrent /readyz requests share it.
	checked time.Time
	cluster error // the membership could not be fetched
	leader  error // no member is the leader
}

// probe returns the cached result, refreshing it when older than ttl.
func (g *Gateway) probe() (cluster, leader error) {
	rd := &g.ready
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.checked.IsZero() && time.Since(rd.checked) < g.cfg.ReadyTTL {
		return rd.cluster, rd.leader
	}
	// Not the request's context: a probe cancelled by one caller must not
	// be cached as the cluster's state.
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ReadyTimeout)
	defer cancel()
	rd.cluster, rd.leader = nil, nil
	members, err := g.kv.Members(ctx)
	switch {
	case err != nil:
		rd.cluster = fmt.Errorf("the cluster did not answer: %w", err)
		rd.leader = errors.New("unknown: the cluster did not answer")
	default:
		rd.leader = errors.New("no member knows a leader")
		for _, m := range members {
			if m.Leader {
				rd.leader = nil
			}
		}
	}
	rd.checked = time.Now()
	return rd.cluster, rd.leader
}

// serveLivez answers 200 while the process serves HTTP. It does not look at
// the cluster: restarting a gateway never fixes a cluster problem.
func (g *Gateway) serveLivez(w http.ResponseWriter, _ *http.Request, _ *reqInfo) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

// serveReadyz answers 200 while the gateway is not draining, the cluster
// answers (the membership could be fetched within ReadyTimeout) and a member
// is the leader; 503 otherwise. Like kvd's, ?verbose lists every check as
// "[+]name ok" or "[-]name failed: reason".
func (g *Gateway) serveReadyz(w http.ResponseWriter, r *http.Request, _ *reqInfo) {
	type check struct {
		name string
		err  error
	}
	checks := []check{{name: "draining"}}
	if g.drain.Load() {
		checks[0].err = errors.New("the gateway is shutting down")
	} else {
		cluster, leader := g.probe()
		checks = append(checks, check{"cluster", cluster}, check{"leader", leader})
	}
	var b strings.Builder
	var failed []string
	for _, c := range checks {
		if c.err != nil {
			failed = append(failed, c.name)
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, c.err)
			continue
		}
		fmt.Fprintf(&b, "[+]%s ok\n", c.name)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, verbose := r.URL.Query()["verbose"]
	switch {
	case len(failed) > 0:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "%sreadyz check failed: %s\n", b.String(), strings.Join(failed, ","))
	case verbose:
		fmt.Fprintf(w, "%sreadyz check passed\n", b.String())
	default:
		fmt.Fprintln(w, "ok")
	}
}

// serveMetrics serves the gateway's registry.
func (g *Gateway) serveMetrics(w http.ResponseWriter, r *http.Request, _ *reqInfo) {
	metricsHandler(g.reg).ServeHTTP(w, r)
}
