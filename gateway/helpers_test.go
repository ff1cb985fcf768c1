package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/server/servertest"
)

// Test tokens, one per role.
const (
	readTok  = "read-token-0123456789abcdef"
	writeTok = "write-token-0123456789abcdef"
	adminTok = "admin-token-0123456789abcdef"
)

// testTokenFile is a token file with one token per role; the write token
// is given by its hash.
const testTokenFile = `{
  "roles": {"read": {"rate": 1000, "burst": 1000}, "write": {"rate": 1000}},
  "tokens": [
    {"name": "reader", "role": "read", "token": "` + readTok + `"},
    {"name": "writer", "role": "write", "sha256": "` + writeTokSHA + `"},
    {"name": "root", "role": "admin", "token": "` + adminTok + `"}
  ]
}`

// writeTokSHA is sha256(writeTok).
const writeTokSHA = "485dcf9821c2f341a6284d380f62c7cdd916c833eb03a8b6a474e10269a7b9fb"

// logBuffer collects log output for assertions (and shows it on failure).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is a gateway under test in front of a backend.
type env struct {
	t       testing.TB
	gw      *Gateway
	srv     *httptest.Server
	logs    *logBuffer
	cluster *servertest.Cluster // nil with a fake backend
	client  *client.Client
	tokens  string // token file path
}

// newClusterEnv starts a real in-process 3-node cluster and a gateway in
// front of it. tweak may adjust the gateway config.
func newClusterEnv(t *testing.T, tweak func(*Config)) *env {
	t.Helper()
	c := servertest.StartCluster(t, 3, nil)
	cl, err := client.New(client.Config{Endpoints: c.Endpoints(), DialTimeout: time.Second})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	e := newEnv(t, cl, tweak)
	e.cluster, e.client = c, cl
	return e
}

// newEnv starts a gateway over backend with the test token file.
func newEnv(t testing.TB, backend Backend, tweak func(*Config)) *env {
	t.Helper()
	e := &env{t: t, logs: &logBuffer{}, tokens: filepath.Join(t.TempDir(), "tokens.json")}
	if err := os.WriteFile(e.tokens, []byte(testTokenFile), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Backend:   backend,
		TokenFile: e.tokens,
		IPLimit:   NoLimit,
		Logger:    slog.New(slog.NewTextHandler(io.MultiWriter(e.logs, t.Output()), nil)),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	e.gw = gw
	e.srv = httptest.NewServer(gw)
	t.Cleanup(e.srv.Close)
	return e
}

// on returns a copy of e that reports to t (a subtest).
func (e *env) on(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// response is an answered request.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode decodes the JSON error body's code ("" if not an error body).
func (r response) errorCode() string {
	var b errorBody
	_ = json.Unmarshal(r.body, &b)
	return b.Code
}

// do sends a request with token ("" for none) and returns the answer.
func (e *env) do(method, path, token string, body io.Reader) response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request and fails the test unless the status is want.
func (e *env) must(want int, method, path, token string, body io.Reader) response {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s = %d %s; want %d", method, path, r.status, r.body, want)
	}
	return r
}

// put writes value under key through the gateway.
func (e *env) put(key, value string) response {
	e.t.Helper()
	return e.must(http.StatusOK, http.MethodPut, "/v1/kv/"+key, writeTok, strings.NewReader(value))
}

// entries decodes a JSON KV answer.
func entries(t *testing.T, r response) []kvEntry {
	t.Helper()
	var out []kvEntry
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return out
}
