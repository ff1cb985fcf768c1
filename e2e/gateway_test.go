//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server/servertest"
)

// Tokens of the gateway tests' token file.
const (
	gwReadTok  = "e2e-read-token-0123456789"
	gwWriteTok = "e2e-write-token-0123456789"
	gwAdminTok = "e2e-admin-token-0123456789"
)

// gwTokenFile limits the read role to a burst of 20 and then one request
// per 100s, so the 429 test is quick; write and admin are unlimited.
const gwTokenFile = `{
  "roles": {"read": {"rate": 0.01, "burst": 20}, "write": {"unlimited": true}, "admin": {"unlimited": true}},
  "tokens": [
    {"name": "reader", "role": "read", "token": "` + gwReadTok + `"},
    {"name": "writer", "role": "write", "token": "` + gwWriteTok + `"},
    {"name": "admin", "role": "admin", "token": "` + gwAdminTok + `"}
  ]
}`

var (
	gwBuildOnce sync.Once
	gwBuildErr  error
)

// gatewayBinary builds kvgateway into binDir once per test binary.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "kvgateway")
	gwBuildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/kvgateway")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			gwBuildErr = fmt.Errorf("build kvgateway: %v\n%s", err, out)
		}
	})
	if gwBuildErr != nil {
		t.Fatal(gwBuildErr)
	}
	return bin
}

// procGateway is a kvgateway process in front of a procCluster.
type procGateway struct {
	t      *testing.T
	url    string
	tokens string // token file path
	log    string // log file path
	cmd    *exec.Cmd
	exited chan error // receives cmd.Wait's result once
	http   *http.Client
}

// startGateway runs kvgateway against c with a fresh token file and waits
// until it is ready. It is stopped with SIGTERM when the test ends.
func startGateway(t *testing.T, c *procCluster, extra ...string) *procGateway {
	t.Helper()
	dir := t.TempDir()
	g := &procGateway{
		t:      t,
		url:    "http://" + servertest.FreeAddrs(t, 1)[0],
		tokens: filepath.Join(dir, "tokens.json"),
		log:    filepath.Join(dir, "kvgateway.log"),
		exited: make(chan error, 1),
		http:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
	}
	if err := os.WriteFile(g.tokens, []byte(gwTokenFile), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(g.log)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"--listen-addr", strings.TrimPrefix(g.url, "http://"),
		"--endpoints", strings.Join(c.endpoints(), ","),
		"--token-file", g.tokens,
	}, extra...)
	g.cmd = exec.Command(gatewayBinary(t), args...)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start kvgateway: %v", err)
	}
	go func() {
		g.exited <- g.cmd.Wait()
		_ = logf.Close()
	}()
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("kvgateway exit: %v", err)
		}
		if t.Failed() {
			g.dumpLog()
		}
	})
	servertest.WaitFor(t, 30*time.Second, "kvgateway ready", func() bool {
		resp, err := g.http.Get(g.url + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return g
}

// stop sends SIGTERM and waits for the process; it is idempotent and
// SIGKILLs a process that does not exit within 30s.
func (g *procGateway) stop() error {
	if g.cmd.ProcessState != nil {
		return nil
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.exited:
		return err
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
		return fmt.Errorf("kvgateway did not exit within 30s of SIGTERM")
	}
}

func (g *procGateway) dumpLog() {
	b, _ := os.ReadFile(g.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	g.t.Logf("---- kvgateway log (last %d lines) ----\n%s", len(lines), strings.Join(lines, "\n"))
}

// gwResponse is an answered request.
type gwResponse struct {
	status int
	header http.Header
	body   string
}

// code is the JSON error body's code.
func (r gwResponse) code() string {
	var b struct{ Code string }
	_ = json.Unmarshal([]byte(r.body), &b)
	return b.Code
}

// send does one request; transport errors are returned, not fatal, so
// that traffic loops can count them.
func (g *procGateway) send(ctx context.Context, method, path, token, body string) (gwResponse, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, rd)
	if err != nil {
		return gwResponse{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return gwResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return gwResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

// expect does one request and fails the test unless it answers status
// (and, if code is not "", that error code).
func (g *procGateway) expect(status int, code, method, path, token, body string) gwResponse {
	g.t.Helper()
	r, err := g.send(context.Background(), method, path, token, body)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != status || (code != "" && r.code() != code) {
		g.t.Fatalf("%s %s = %d %s; want %d %s", method, path, r.status, r.body, status, code)
	}
	return r
}

// TestE2E_Gateway_Routes drives every route of a kvgateway process in front
// of three kvd processes over plain HTTP, as curl would: the KV API, the
// error answers, status, the probes, metrics, a SIGHUP reload and a SIGTERM
// drain.
func TestE2E_Gateway_Routes(t *testing.T) {
	c := startCluster(t)
	g := startGateway(t, c)

	// Auth.
	r := g.expect(401, "UNAUTHENTICATED", "GET", "/v1/kv/greeting", "", "")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 challenge %q", r.header.Get("WWW-Authenticate"))
	}
	g.expect(401, "UNAUTHENTICATED", "GET", "/v1/kv/greeting", "wrong-token-0123456789", "")
	g.expect(403, "PERMISSION_DENIED", "PUT", "/v1/kv/greeting", gwReadTok, "hello")

	// Writes and reads.
	r = g.expect(200, "", "PUT", "/v1/kv/greeting", gwWriteTok, "hello")
	if r.body != "true\n" || r.header.Get("X-Raftkv-Index") == "" {
		t.Errorf("PUT = %q, index %q", r.body, r.header.Get("X-Raftkv-Index"))
	}
	r = g.expect(200, "", "GET", "/v1/kv/greeting", gwReadTok, "")
	var kvs []struct {
		Key         string
		Value       []byte
		CreateIndex uint64
		ModifyIndex uint64
	}
	if err := json.Unmarshal([]byte(r.body), &kvs); err != nil || len(kvs) != 1 || string(kvs[0].Value) != "hello" {
		t.Fatalf("GET = %s (%v)", r.body, err)
	}
	for _, h := range []string{"X-Raftkv-Node", "X-Raftkv-Applied-Index", "X-Raftkv-Leader-Known", "X-Raftkv-Last-Contact", "X-Raftkv-Degraded", "X-Raftkv-Consistency"} {
		if r.header.Get(h) == "" {
			t.Errorf("GET lacks %s", h)
		}
	}
	if r = g.expect(200, "", "GET", "/v1/kv/greeting?raw", gwWriteTok, ""); r.body != "hello" {
		t.Errorf("raw = %q", r.body)
	}
	for q, level := range map[string]string{"?stale": "stale", "?consistency=bounded&max_staleness=2s": "bounded", "?consistency=linearizable": "linearizable"} {
		if r = g.expect(200, "", "GET", "/v1/kv/greeting"+q, gwWriteTok, ""); r.header.Get("X-Raftkv-Consistency") != level {
			t.Errorf("%s served at %q", q, r.header.Get("X-Raftkv-Consistency"))
		}
	}
	for _, k := range []string{"dir/a", "dir/b", "dir/c"} {
		g.expect(200, "", "PUT", "/v1/kv/"+k, gwWriteTok, k)
	}
	if r = g.expect(200, "", "GET", "/v1/kv/dir/?keys&limit=2", gwWriteTok, ""); r.body != `["dir/a","dir/b"]`+"\n" || r.header.Get("X-Raftkv-More") != "true" {
		t.Errorf("keys = %q, more %q", r.body, r.header.Get("X-Raftkv-More"))
	}
	if r = g.expect(200, "", "GET", "/v1/kv/dir?recurse", gwWriteTok, ""); strings.Count(r.body, `"Key"`) != 3 {
		t.Errorf("recurse = %s", r.body)
	}

	// Check-and-set on the mod index.
	idx := g.expect(200, "", "PUT", "/v1/kv/lock?cas=0", gwWriteTok, "me").header.Get("X-Raftkv-Index")
	g.expect(409, "CAS_MISMATCH", "PUT", "/v1/kv/lock?cas=0", gwWriteTok, "you")
	g.expect(200, "", "DELETE", "/v1/kv/lock?cas="+idx, gwWriteTok, "")

	// Errors.
	g.expect(404, "NOT_FOUND", "GET", "/v1/kv/missing", gwWriteTok, "")
	g.expect(400, "INVALID_ARGUMENT", "GET", "/v1/kv/greeting?consistency=eventual", gwWriteTok, "")
	g.expect(400, "INVALID_ARGUMENT", "GET", "/v1/kv/"+strings.Repeat("k", 4097), gwWriteTok, "")
	g.expect(413, "BODY_TOO_LARGE", "PUT", "/v1/kv/big", gwWriteTok, strings.Repeat("x", 1<<20+1))
	g.expect(405, "METHOD_NOT_ALLOWED", "POST", "/v1/kv/greeting", gwWriteTok, "")
	r = g.expect(200, "", "DELETE", "/v1/kv/greeting", gwWriteTok, "")
	if r.header.Get("X-Raftkv-Deleted") != "true" {
		t.Errorf("DELETE: deleted %q", r.header.Get("X-Raftkv-Deleted"))
	}
	g.expect(404, "NOT_FOUND", "GET", "/v1/kv/greeting", gwWriteTok, "")

	// Cluster status, the document, probes, metrics.
	var st struct {
		LeaderID string `json:"leader_id"`
		Members  []struct {
			ID     string
			Status *struct{ Role string }
		}
	}
	r = g.expect(200, "", "GET", "/v1/status", gwReadTok, "")
	if err := json.Unmarshal([]byte(r.body), &st); err != nil || len(st.Members) != 3 || st.LeaderID == "" {
		t.Fatalf("status = %s (%v)", r.body, err)
	}
	for _, m := range st.Members {
		if m.Status == nil {
			t.Errorf("member %s without status: %s", m.ID, r.body)
		}
	}
	if r = g.expect(200, "", "GET", "/v1/openapi.json", "", ""); !strings.Contains(r.body, `"/v1/kv/{key}"`) {
		t.Error("openapi.json lacks the KV route")
	}
	g.expect(200, "", "GET", "/livez", "", "")
	g.expect(200, "", "GET", "/readyz", "", "")
	r = g.expect(200, "", "GET", "/metrics", "", "")
	for _, want := range []string{`raftkv_gateway_requests_total{code="409",method="PUT",route="/v1/kv/{key}"} 1`, "raftkv_gateway_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Rate limit: the read role's burst runs out (it has been used a few
	// times above).
	var limited gwResponse
	for range 25 {
		r, err := g.send(context.Background(), "GET", "/v1/kv/dir/a", gwReadTok, "")
		if err != nil || (r.status != 200 && r.status != 429) {
			t.Fatalf("read within the burst: %d %s (%v)", r.status, r.body, err)
		}
		if limited = r; r.status == 429 {
			break
		}
	}
	if limited.status != 429 || limited.code() != "RATE_LIMITED" {
		t.Fatalf("no 429 after the read role's burst: %d %s", limited.status, limited.body)
	}
	if s, err := strconv.Atoi(limited.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After = %q", limited.header.Get("Retry-After"))
	}

	// SIGHUP: a new token file takes effect without a restart.
	const newTok = "e2e-rotated-token-0123456789"
	rotated := strings.Replace(gwTokenFile, gwWriteTok, newTok, 1)
	if err := os.WriteFile(g.tokens, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	servertest.WaitFor(t, 10*time.Second, "the rotated token accepted", func() bool {
		r, err := g.send(context.Background(), "GET", "/v1/kv/dir/a", newTok, "")
		return err == nil && r.status == 200
	})
	g.expect(401, "UNAUTHENTICATED", "GET", "/v1/kv/dir/a", gwWriteTok, "")
	g.expect(200, "", "POST", "/v1/admin/reload", gwAdminTok, "")

	// SIGTERM: a clean exit, and the access log never holds a token.
	if err := g.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	logs, _ := os.ReadFile(g.log)
	for _, tok := range []string{gwReadTok, gwWriteTok, gwAdminTok, newTok, "wrong-token-0123456789"} {
		if strings.Contains(string(logs), tok) {
			t.Errorf("the log holds a token")
		}
	}
	for _, want := range []string{"route=/v1/kv/{key}", "status=409", "token_name=writer", "kvgateway stopped"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// TestE2E_Gateway_KillLeader SIGKILLs the leader process while 8 HTTP
// clients write (PUTs of a fixed value per key, which are idempotent) and
// read (linearizable and stale GETs) through the gateway without pause.
// Clients of the gateway must see no failed request: the gateway's Go
// client finds the new leader, retries reads, and resends writes whose
// answer was lost under their request id (exactly-once).
func TestE2E_Gateway_KillLeader(t *testing.T) {
	c := startCluster(t)
	g := startGateway(t, c, "--ip-rate", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const workers = 8
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		ops      atomic.Int64
		worstNs  atomic.Int64
		mu       sync.Mutex // guards failures
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	timed := func(method, path, body string) (gwResponse, error) {
		start := time.Now()
		r, err := g.send(ctx, method, path, gwWriteTok, body)
		if d := int64(time.Since(start)); d > worstNs.Load() {
			worstNs.Store(d)
		}
		return r, err
	}
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("gw-failover/%d/%d", w, i%16)
				value := "value-of-" + key
				if r, err := timed("PUT", "/v1/kv/"+key, value); err != nil || r.status != 200 {
					fail("worker %d PUT %s: %d %s %v", w, key, r.status, r.body, err)
					return
				}
				r, err := timed("GET", "/v1/kv/"+key+"?raw", "")
				if err != nil || r.status != 200 || r.body != value {
					fail("worker %d GET %s: %d %q %v", w, key, r.status, r.body, err)
					return
				}
				if r, err := timed("GET", "/v1/kv/"+key+"?raw&stale", ""); err != nil || r.status != 200 || r.body != value {
					fail("worker %d stale GET %s: %d %q %v", w, key, r.status, r.body, err)
					return
				}
				ops.Add(3)
			}
		})
	}
	waitOps := func(what string) {
		before := ops.Load()
		servertest.WaitFor(t, 30*time.Second, what, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return ops.Load() > before+600 || len(failures) > 0
		})
	}

	waitOps("traffic before the kill")
	leader := c.leader(10 * time.Second)
	killedAt := ops.Load()
	c.script("kill", leader)
	t.Logf("SIGKILLed leader %s after %d requests", leader, killedAt)
	waitOps("traffic after the kill")
	newLeader := c.leader(10 * time.Second)
	waitOps("traffic under the new leader " + newLeader)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for _, f := range failures {
		t.Errorf("failed request: %s", f)
	}
	t.Logf("%d requests by %d HTTP clients through kvgateway across the SIGKILL of leader %s (new leader %s): %d failed, slowest %v",
		ops.Load(), workers, leader, newLeader, len(failures), time.Duration(worstNs.Load()).Round(time.Millisecond))
	if newLeader == leader {
		t.Errorf("leader %s still leads after its SIGKILL", leader)
	}
	// The gateway stays ready with two of three nodes.
	g.expect(200, "", "GET", "/readyz", "", "")
}
