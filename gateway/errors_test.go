package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/server/servertest"
)

// TestGateway_Errors checks every error answer a client can provoke against
// a real in-process cluster: status, JSON code and the headers that go with
// them.
func TestGateway_Errors(t *testing.T) {
	e := newClusterEnv(t, nil)
	e.put("exists", "v")

	for _, tc := range []struct {
		name, method, path, token string
		body                      io.Reader
		status                    int
		code                      string
	}{
		{"KeyTooLong", "GET", "/v1/kv/" + strings.Repeat("k", MaxKeyBytes+1), readTok, nil, 400, codeInvalidArgument},
		{"KeyNotUTF8", "GET", "/v1/kv/%ff%fe", readTok, nil, 400, codeInvalidArgument},
		{"MissingKey", "GET", "/v1/kv/", readTok, nil, 400, codeInvalidArgument},
		{"PutMissingKey", "PUT", "/v1/kv/", writeTok, strings.NewReader("v"), 400, codeInvalidArgument},
		{"Missing", "GET", "/v1/kv/no-such-key", readTok, nil, 404, codeNotFound},
		{"MissingRaw", "GET", "/v1/kv/no-such-key?raw", readTok, nil, 404, codeNotFound},
		{"BadConsistency", "GET", "/v1/kv/exists?consistency=eventual", readTok, nil, 400, codeInvalidArgument},
		{"BoundedWithoutBound", "GET", "/v1/kv/exists?consistency=bounded", readTok, nil, 400, codeInvalidArgument},
		{"BadStaleness", "GET", "/v1/kv/exists?max_staleness=-1s", readTok, nil, 400, codeInvalidArgument},
		{"StalenessOnLinearizable", "GET", "/v1/kv/exists?consistency=linearizable&max_staleness=1s", readTok, nil, 400, codeInvalidArgument},
		{"BadLimit", "GET", "/v1/kv/x?recurse&limit=0", readTok, nil, 400, codeInvalidArgument},
		{"LimitTooLarge", "GET", "/v1/kv/x?recurse&limit=10001", readTok, nil, 400, codeInvalidArgument},
		{"UnknownParam", "GET", "/v1/kv/exists?consistancy=stale", readTok, nil, 400, codeInvalidArgument},
		{"RawListing", "GET", "/v1/kv/x?recurse&raw", readTok, nil, 400, codeInvalidArgument},
		{"BadCAS", "PUT", "/v1/kv/exists?cas=-1", writeTok, strings.NewReader("v"), 400, codeInvalidArgument},
		{"NoToken", "GET", "/v1/kv/exists", "", nil, 401, codeUnauthenticated},
		{"UnknownToken", "GET", "/v1/kv/exists", "not-a-token-0123456789", nil, 401, codeUnauthenticated},
		{"ReadTokenWrites", "PUT", "/v1/kv/exists", readTok, strings.NewReader("v"), 403, codePermissionDenied},
		{"ReadTokenDeletes", "DELETE", "/v1/kv/exists", readTok, nil, 403, codePermissionDenied},
		{"WriteTokenReloads", "POST", "/v1/admin/reload", writeTok, nil, 403, codePermissionDenied},
		{"BodyTooLarge", "PUT", "/v1/kv/big", writeTok, strings.NewReader(strings.Repeat("x", MaxValueBytes+1)), 413, codeBodyTooLarge},
		// No Content-Length: the limit is enforced while reading.
		{"ChunkedBodyTooLarge", "PUT", "/v1/kv/big", writeTok, io.MultiReader(strings.NewReader(strings.Repeat("x", MaxValueBytes)), strings.NewReader("x")), 413, codeBodyTooLarge},
		{"MethodNotAllowed", "POST", "/v1/kv/exists", writeTok, nil, 405, codeMethodNotAllowed},
		{"StatusMethodNotAllowed", "DELETE", "/v1/status", adminTok, nil, 405, codeMethodNotAllowed},
		{"NoRoute", "GET", "/v2/kv/exists", readTok, nil, 404, codeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.on(t).do(tc.method, tc.path, tc.token, tc.body)
			if r.status != tc.status || r.errorCode() != tc.code {
				t.Fatalf("%s %s = %d %s; want %d %s", tc.method, tc.path, r.status, r.body, tc.status, tc.code)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			switch tc.status {
			case 401:
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge: %v", r.header)
				}
			case 403:
				if !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
					t.Errorf("403 WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
				}
			case 405:
				if r.header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}
		})
	}
	// Nothing refused was written.
	if got := entries(t, e.must(200, "GET", "/v1/kv/exists", readTok, nil)); string(got[0].Value) != "v" {
		t.Errorf("exists = %q after refused writes", got[0].Value)
	}
	e.must(404, "GET", "/v1/kv/big", readTok, nil)
	// The tokens never reach the log; their hash prefixes do.
	logs := e.logs.String()
	for _, tok := range []string{readTok, writeTok, adminTok, "not-a-token-0123456789"} {
		if strings.Contains(logs, tok) {
			t.Errorf("token %q appears in the log", tok)
		}
	}
	if !strings.Contains(logs, "token_name=reader") || !strings.Contains(logs, "route=/v1/kv/{key}") {
		t.Errorf("access log lacks token names or routes:\n%s", logs)
	}
}

// TestGateway_RateLimits checks 429 with Retry-After for the per-token and
// the per-IP buckets, and that the refusals are counted.
func TestGateway_RateLimits(t *testing.T) {
	e := newClusterEnv(t, func(c *Config) {
		// One request per 1000s per token of role read; IPs are not limited.
		c.RoleLimits = map[Role]Limit{RoleRead: {Rate: 0.001, Burst: 1}}
	})
	// The test token file sets read's limit; give it none so the config's applies.
	writeTokens(t, e, strings.Replace(testTokenFile, `"read": {"rate": 1000, "burst": 1000}, `, "", 1))

	e.put("k", "v")
	e.must(200, "GET", "/v1/kv/k", readTok, nil)
	r := e.must(429, "GET", "/v1/kv/k", readTok, nil)
	if r.errorCode() != codeRateLimited {
		t.Errorf("code = %s", r.errorCode())
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 900 || s > 1000 {
		t.Errorf("Retry-After = %q, want about 1000", r.header.Get("Retry-After"))
	}
	// Another token is not affected.
	e.must(200, "GET", "/v1/kv/k", writeTok, nil)

	// Per client IP, before authentication.
	ip := newEnv(t, e.client, func(c *Config) { c.IPLimit = Limit{Rate: 0.001, Burst: 2} })
	ip.must(200, "GET", "/v1/kv/k", writeTok, nil)
	ip.must(401, "GET", "/v1/kv/k", "", nil) // counts too: guessing tokens is limited
	r = ip.must(429, "GET", "/v1/kv/k", writeTok, nil)
	if r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "client address") {
		t.Errorf("IP 429: %s %v", r.body, r.header)
	}
	// Probes are never limited.
	ip.must(200, "GET", "/livez", "", nil)

	m := e.must(200, "GET", "/metrics", "", nil)
	if !strings.Contains(string(m.body), `raftkv_gateway_rate_limited_total{scope="token"} 1`) {
		t.Errorf("rate-limited count missing:\n%s", grepLines(string(m.body), "rate_limited"))
	}
}

// TestGateway_Deadline maps a request that runs out of time to 504.
func TestGateway_Deadline(t *testing.T) {
	e := newClusterEnv(t, func(c *Config) { c.RequestTimeout = time.Nanosecond })
	r := e.must(504, "GET", "/v1/kv/k", readTok, nil)
	if r.errorCode() != codeDeadlineExceeded {
		t.Errorf("code = %s: %s", r.errorCode(), r.body)
	}
}

// TestGateway_NoQuorum stops two of three nodes: writes and linearizable
// reads get 503 NO_QUORUM with Retry-After, bounded reads 503 STALE, and
// stale reads are served, flagged degraded.
func TestGateway_NoQuorum(t *testing.T) {
	e := newClusterEnv(t, nil)
	e.put("k", "v")
	// Make sure every node has applied the write before the others go.
	servertest.WaitFor(t, 10*time.Second, "the write on every node", func() bool {
		for i := range e.cluster.Size() {
			if _, err := e.cluster.Node(i).Store().Get([]byte("k")); err != nil {
				return false
			}
		}
		return true
	})
	leader := e.cluster.Leader(10 * time.Second)
	for i := range e.cluster.Size() {
		if i != leader {
			e.cluster.Stop(i)
		}
	}
	servertest.WaitFor(t, 20*time.Second, "the survivor degraded", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := e.client.Put(ctx, "probe", []byte("x"))
		return errors.Is(err, client.ErrNoQuorum)
	})

	r := e.must(503, "PUT", "/v1/kv/k", writeTok, strings.NewReader("v2"))
	if r.errorCode() != codeNoQuorum || r.header.Get("Retry-After") != "5" {
		t.Errorf("PUT without quorum: %s, Retry-After %q", r.body, r.header.Get("Retry-After"))
	}
	if r := e.must(503, "GET", "/v1/kv/k", readTok, nil); r.errorCode() != codeNoQuorum {
		t.Errorf("linearizable GET without quorum: %s", r.body)
	}
	r = e.must(503, "GET", "/v1/kv/k?max_staleness=1ms", readTok, nil)
	if r.errorCode() != codeStale || r.header.Get("Retry-After") != "1" {
		t.Errorf("bounded GET without quorum: %s, Retry-After %q", r.body, r.header.Get("Retry-After"))
	}
	r = e.must(200, "GET", "/v1/kv/k?stale", readTok, nil)
	if r.header.Get("X-Raftkv-Degraded") != "true" || r.header.Get("X-Raftkv-Leader-Known") != "false" {
		t.Errorf("stale GET without quorum: headers %v", r.header)
	}
	if got := entries(t, r); string(got[0].Value) != "v" {
		t.Errorf("stale GET = %q", got[0].Value)
	}
	servertest.WaitFor(t, 10*time.Second, "readyz failing", func() bool {
		return e.do("GET", "/readyz", "", nil).status == 503
	})
}

// TestToAPIError covers the mapping table for errors that are hard to
// provoke on purpose (a write whose outcome is unknown needs the leader to
// die while committing it).
func TestToAPIError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("op: %w", err) }
	for _, tc := range []struct {
		err        error
		status     int
		code       string
		retryAfter time.Duration
	}{
		{wrap(client.ErrNotFound), 404, codeNotFound, 0},
		{wrap(client.ErrInvalidArgument), 400, codeInvalidArgument, 0},
		{wrap(errCASMismatch), 409, codeCASMismatch, 0},
		{wrap(client.ErrOutcomeUnknown), 502, codeOutcomeUnknown, 0},
		{fmt.Errorf("%w: %w while waiting", client.ErrOutcomeUnknown, context.DeadlineExceeded), 504, codeOutcomeUnknown, 0},
		{wrap(&client.NoQuorumError{NodeID: "n1"}), 503, codeNoQuorum, retryAfterNoQuorum},
		{wrap(client.ErrNoQuorum), 503, codeNoQuorum, retryAfterNoQuorum},
		{wrap(client.ErrStale), 503, codeStale, retryAfterTransient},
		{wrap(client.ErrNoLeader), 503, codeNoLeader, retryAfterTransient},
		{wrap(client.ErrUnavailable), 503, codeUnavailable, retryAfterTransient},
		{client.ErrClosed, 503, codeShuttingDown, retryAfterTransient},
		{wrap(context.DeadlineExceeded), 504, codeDeadlineExceeded, 0},
		{wrap(context.Canceled), 499, codeCanceled, 0},
		{errors.New("boom"), 500, codeInternal, 0},
		{badRequest("x"), 400, codeInvalidArgument, 0},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			got := toAPIError(tc.err)
			if got.status != tc.status || got.code != tc.code || got.retryAfter != tc.retryAfter {
				t.Errorf("toAPIError(%v) = %d %s retry %v; want %d %s retry %v",
					tc.err, got.status, got.code, got.retryAfter, tc.status, tc.code, tc.retryAfter)
			}
			if tc.status == 500 && strings.Contains(got.msg, "boom") {
				t.Errorf("an internal error's text leaks to the client: %q", got.msg)
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// writeTokens replaces the env's token file and reloads it.
func writeTokens(t *testing.T, e *env, content string) {
	t.Helper()
	if err := os.WriteFile(e.tokens, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
}
