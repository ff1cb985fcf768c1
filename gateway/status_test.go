package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/server/servertest"
)

// TestGateway_StatusAndProbes covers /v1/status, /livez, /readyz and
// /metrics against a real cluster, including a member that is down.
func TestGateway_StatusAndProbes(t *testing.T) {
	e := newClusterEnv(t, func(c *Config) { c.ReadyTTL = time.Millisecond })

	t.Run("Status", func(t *testing.T) {
		e := e.on(t)
		var st statusJSON
		if err := json.Unmarshal(e.must(200, "GET", "/v1/status", readTok, nil).body, &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Members) != 3 || st.LeaderID == "" {
			t.Fatalf("status = %+v", st)
		}
		roles := map[string]int{}
		for _, m := range st.Members {
			if m.Status == nil || m.Error != nil {
				t.Fatalf("member %s: status %+v, error %+v", m.ID, m.Status, m.Error)
			}
			roles[m.Status.Role]++
			if m.Leader != (m.ID == st.LeaderID) || m.GRPCAddr == "" || m.RaftAddr == "" || m.Status.Term == 0 {
				t.Errorf("member %+v", m)
			}
		}
		if roles["leader"] != 1 || roles["follower"] != 2 {
			t.Errorf("roles = %v", roles)
		}
	})

	t.Run("Probes", func(t *testing.T) {
		e := e.on(t)
		if r := e.must(200, "GET", "/livez", "", nil); string(r.body) != "ok\n" {
			t.Errorf("livez = %q", r.body)
		}
		e.must(200, "GET", "/readyz", "", nil)
		r := e.must(200, "GET", "/readyz?verbose", "", nil)
		for _, want := range []string{"[+]draining ok", "[+]cluster ok", "[+]leader ok", "readyz check passed"} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("readyz?verbose lacks %q:\n%s", want, r.body)
			}
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		e := e.on(t)
		e.must(404, "GET", "/v1/kv/metrics-probe", readTok, nil)
		m := string(e.must(200, "GET", "/metrics", "", nil).body)
		for _, want := range []string{
			`raftkv_gateway_requests_total{code="404",method="GET",route="/v1/kv/{key}"} 1`,
			`raftkv_gateway_requests_total{code="200",method="GET",route="/v1/status"}`,
			`raftkv_gateway_request_duration_seconds_bucket{method="GET",route="/v1/kv/{key}",le="+Inf"}`,
			`raftkv_gateway_requests_in_flight 1`,
			`raftkv_gateway_rate_limited_total{scope="ip"} 0`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "raftkv_gateway_requests"))
			}
		}
		if strings.Contains(m, "metrics-probe") {
			t.Error("a key reached a metric label")
		}
	})

	t.Run("MemberDown", func(t *testing.T) {
		e := e.on(t)
		leader := e.cluster.Leader(10 * time.Second)
		down := (leader + 1) % e.cluster.Size()
		e.cluster.Stop(down)
		var st statusJSON
		if err := json.Unmarshal(e.must(200, "GET", "/v1/status", readTok, nil).body, &st); err != nil {
			t.Fatal(err)
		}
		downID := fmt.Sprintf("n%d", down+1)
		for _, m := range st.Members {
			if failed := m.Error != nil; failed != (m.ID == downID) || failed == (m.Status != nil) {
				t.Errorf("member %s (stopped: %s): status %+v, error %+v", m.ID, downID, m.Status, m.Error)
			}
		}
		// Two of three still form a quorum: still ready.
		e.must(200, "GET", "/readyz", "", nil)
	})

	t.Run("Drain", func(t *testing.T) {
		e := e.on(t)
		e.gw.StartDrain()
		r := e.must(503, "GET", "/readyz", "", nil)
		if !strings.Contains(string(r.body), "[-]draining failed") {
			t.Errorf("readyz while draining:\n%s", r.body)
		}
		// Requests are still served while draining.
		e.must(200, "GET", "/v1/status", readTok, nil)
	})
}

// TestGateway_ReadyzCache shows that /readyz probes the cluster at most once
// per TTL and that a cluster that stops answering makes it fail.
func TestGateway_ReadyzCache(t *testing.T) {
	b := &memBackend{}
	e := newEnv(t, b, func(c *Config) { c.ReadyTTL = time.Hour })
	e.must(200, "GET", "/readyz", "", nil)
	b.setErr(client.ErrUnavailable)
	e.must(200, "GET", "/readyz", "", nil) // cached

	e2 := newEnv(t, b, func(c *Config) { c.ReadyTTL = time.Nanosecond })
	r := e2.must(503, "GET", "/readyz?verbose", "", nil)
	if !strings.Contains(string(r.body), "[-]cluster failed") {
		t.Errorf("readyz:\n%s", r.body)
	}
	b.setErr(nil)
	servertest.WaitFor(t, 5*time.Second, "readyz passing again", func() bool {
		return e2.do("GET", "/readyz", "", nil).status == 200
	})
	// The cluster errors on /v1/status map like any other.
	b.setErr(fmt.Errorf("members: %w", client.ErrNoLeader))
	if r := e2.must(503, "GET", "/v1/status", readTok, nil); r.errorCode() != codeNoLeader || r.header.Get("Retry-After") != "1" {
		t.Errorf("status without a leader: %s", r.body)
	}
}
