package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Gateway is the HTTP handler of kvgateway. It is safe for concurrent use.
// It owns no goroutines: the caller runs it in an http.Server, and owns and
// closes the Backend.
type Gateway struct {
	cfg       Config
	kv        Backend
	log       *slog.Logger
	reg       *prometheus.Registry
	m         *gatewayMetrics
	mux       *http.ServeMux
	ipLim     *limiterSet // per client IP (IPv6: per /64)
	tokLim    *limiterSet // per token, sized by role
	ready     readiness
	drain     atomic.Bool              // set by StartDrain: /readyz fails
	tokens    atomic.Pointer[TokenSet] // nil when auth is off
	anonymous Identity                 // who requests act as when auth is off
	reloadMu  sync.Mutex               // serialises Reload
}

// route is one HTTP route: its method and OpenAPI path, and the role it
// needs (0: public, no token and no rate limit). routes is the single list
// that the mux is built from and that the OpenAPI test checks the document
// against.
type route struct {
	method string
	path   string
	role   Role
	serve  func(g *Gateway, w http.ResponseWriter, r *http.Request, info *reqInfo)
}

// kvRoute is the OpenAPI path (and metrics label) of the KV routes, which
// are matched by prefix rather than by the mux (see kvPrefix).
const kvRoute = "/v1/kv/{key}"

var routes = []route{
	{http.MethodGet, kvRoute, RoleRead, (*Gateway).serveKV},
	{http.MethodPut, kvRoute, RoleWrite, (*Gateway).serveKV},
	{http.MethodDelete, kvRoute, RoleWrite, (*Gateway).serveKV},
	{http.MethodGet, "/v1/status", RoleRead, (*Gateway).serveStatus},
	{http.MethodPost, "/v1/admin/reload", RoleAdmin, (*Gateway).serveReload},
	{http.MethodGet, "/v1/openapi.json", 0, (*Gateway).serveOpenAPI},
	{http.MethodGet, "/livez", 0, (*Gateway).serveLivez},
	{http.MethodGet, "/readyz", 0, (*Gateway).serveReadyz},
	{http.MethodGet, "/metrics", 0, (*Gateway).serveMetrics},
}

// New validates cfg, loads the token file and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := &Gateway{
		cfg:       cfg,
		kv:        cfg.Backend,
		log:       cfg.Logger.With("component", "gateway"),
		reg:       cfg.Registry,
		ipLim:     newLimiterSet(),
		tokLim:    newLimiterSet(),
		anonymous: Identity{Role: RoleAdmin, ID: "-"},
	}
	if g.reg == nil {
		g.reg = prometheus.NewRegistry()
	}
	m, err := newGatewayMetrics(g.reg)
	if err != nil {
		return nil, err
	}
	g.m = m
	if cfg.InsecureNoAuth {
		g.log.Warn("AUTHENTICATION IS DISABLED (--insecure-no-auth): anyone who can reach this gateway may read, write and delete every key; use only for local development")
	} else if err := g.Reload(); err != nil {
		return nil, err
	}
	g.mux = http.NewServeMux()
	allow := map[string][]string{}
	for _, rt := range routes {
		allow[rt.path] = append(allow[rt.path], rt.method)
		if rt.path == kvRoute {
			continue // matched by prefix in ServeHTTP
		}
		g.mux.Handle(rt.method+" "+rt.path, g.handler(rt))
	}
	for path, methods := range allow {
		if path != kvRoute {
			g.mux.Handle(path, methodNotAllowed(path, methods))
		}
	}
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, code: codeNotFound,
			msg: fmt.Sprintf("no route %s %s; see /v1/openapi.json", r.Method, r.URL.Path)})
	})
	return g, nil
}

// ServeHTTP serves one request: access log and metrics around routing.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.observe(w, r, func(w http.ResponseWriter, r *http.Request, info *reqInfo) {
		if strings.HasPrefix(r.URL.EscapedPath(), kvPrefix) {
			info.route = kvRoute
			g.serveKVRoute(w, r, info)
			return
		}
		g.mux.ServeHTTP(w, r)
	})
}

// serveKVRoute picks the KV route by method; KV paths bypass the mux so
// that keys are not "cleaned".
func (g *Gateway) serveKVRoute(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	var methods []string
	for _, rt := range routes {
		if rt.path != kvRoute {
			continue
		}
		methods = append(methods, rt.method)
		if rt.method == r.Method || (r.Method == http.MethodHead && rt.method == http.MethodGet) {
			g.guarded(rt, w, r, info)
			return
		}
	}
	methodNotAllowed(kvRoute, methods).ServeHTTP(w, r)
}

// handler adapts a mux route.
func (g *Gateway) handler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		info.route = rt.path
		g.guarded(rt, w, r, info)
	})
}

// guarded runs rt after its security checks (see guard).
func (g *Gateway) guarded(rt route, w http.ResponseWriter, r *http.Request, info *reqInfo) {
	if rt.role != 0 {
		if e := g.guard(r, rt.role, info); e != nil {
			writeError(w, e)
			return
		}
	}
	rt.serve(g, w, r, info)
}

func methodNotAllowed(path string, methods []string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed,
			msg: fmt.Sprintf("method %s is not allowed on %s; use %s", r.Method, path, allow)})
	})
}

// Reload re-reads the token file and puts it in force; on error the
// previous tokens stay in force. SIGHUP calls it in kvgateway. It is an
// error when auth is off.
func (g *Gateway) Reload() error {
	if g.cfg.InsecureNoAuth {
		return errors.New("authentication is disabled; there is no token file to reload")
	}
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	ts, err := LoadTokenFile(g.cfg.TokenFile, g.cfg.RoleLimits)
	if err != nil {
		g.m.reloads.WithLabelValues("error").Inc()
		if g.tokens.Load() != nil {
			err = fmt.Errorf("%w (the previous tokens stay in force)", err)
		}
		return err
	}
	if fi, err := os.Stat(g.cfg.TokenFile); err == nil && ts.Plaintext() > 0 && fi.Mode().Perm()&0o077 != 0 {
		g.log.Warn("token file holds plaintext tokens and is readable by group or others; chmod 600 it or store sha256 hashes",
			"path", g.cfg.TokenFile, "mode", fi.Mode().Perm().String())
	}
	g.tokens.Store(ts)
	g.m.reloads.WithLabelValues("ok").Inc()
	g.m.tokens.Set(float64(ts.Len()))
	g.log.Info("token file loaded", "path", g.cfg.TokenFile, "tokens", ts.Len(),
		"read_limit", ts.Limit(RoleRead).String(), "write_limit", ts.Limit(RoleWrite).String(),
		"admin_limit", ts.Limit(RoleAdmin).String())
	return nil
}

// StartDrain makes /readyz fail, so that load balancers stop sending new
// requests; kvgateway calls it on SIGTERM before shutting its server down.
func (g *Gateway) StartDrain() { g.drain.Store(true) }

// Registry is the registry the gateway's metrics are on.
func (g *Gateway) Registry() *prometheus.Registry { return g.reg }

// requestContext bounds a request's calls to the cluster.
func (g *Gateway) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
}

// fail answers r with err mapped by toAPIError; unexpected errors are
// logged once, here.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, info *reqInfo, err error) {
	e := toAPIError(err)
	if e.code == codeInternal {
		g.log.Error("request failed", "method", r.Method, "route", info.route, "err", err)
	}
	writeError(w, e)
}
