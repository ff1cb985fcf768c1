package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// reqInfo is what a request's handlers learn about it for the access log
// and the metrics: filled in as the request goes, read when it ends.
type reqInfo struct {
	route  string   // the route's OpenAPI path; "other" when none matched
	ident  Identity // zero until authenticated
	client string   // the client IP rate limits used ("" for public routes)
}

type infoKey struct{}

// infoFrom returns the request's reqInfo (a throwaway one outside observe).
func infoFrom(ctx context.Context) *reqInfo {
	if info, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return info
	}
	return &reqInfo{}
}

// statusWriter records the status, size and error code of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	code   string // the error body's code, set by writeError
}

func (sw *statusWriter) WriteHeader(status int) {
	if sw.status == 0 {
		sw.status = status
	}
	sw.ResponseWriter.WriteHeader(status)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	n, err := sw.ResponseWriter.Write(b)
	sw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// observe runs next with a reqInfo in the context, then writes the access
// log line and the metrics of the request. The log line never holds the
// token or the key: the token is named by its hash prefix (Identity.ID),
// the route by its pattern.
func (g *Gateway) observe(w http.ResponseWriter, r *http.Request, next func(http.ResponseWriter, *http.Request, *reqInfo)) {
	start := time.Now()
	g.m.inFlight.Inc()
	defer g.m.inFlight.Dec()
	info := &reqInfo{route: "other"}
	sw := &statusWriter{ResponseWriter: w}
	next(sw, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)), info)
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	g.m.observe(info.route, methodLabel(r.Method), status, elapsed.Seconds())
	token := info.ident.ID
	if token == "" {
		token = "-"
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", info.route),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
		slog.Int64("bytes", sw.bytes),
		slog.String("token", token),
		slog.String("remote", r.RemoteAddr),
	}
	if info.ident.Name != "" {
		attrs = append(attrs, slog.String("token_name", info.ident.Name))
	}
	if info.client != "" && info.client != remoteHost(r.RemoteAddr) {
		attrs = append(attrs, slog.String("client", info.client))
	}
	if sw.code != "" {
		attrs = append(attrs, slog.String("code", sw.code))
	}
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// methodLabel bounds the method label's values: unusual methods share one.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost,
		http.MethodDelete, http.MethodOptions, http.MethodPatch:
		return m
	}
	return "OTHER"
}

// remoteHost is the host part of an ip:port RemoteAddr.
func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
