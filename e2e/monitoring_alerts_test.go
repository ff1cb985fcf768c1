//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server/servertest"
)

// prometheusInstall is how CI gets the Prometheus server (Debian package).
const prometheusInstall = "apt-get install -y prometheus"

// httpAddr is node's admin HTTP address (scripts/cluster.sh: base+200+i).
func (c *procCluster) httpAddr(node string) string {
	return fmt.Sprintf("127.0.0.1:%d", c.portBase+200+int(node[1]-'0'))
}

// startPrometheus runs a real Prometheus scraping the cluster every second
// with a copy of deploy/prometheus/alerts.yml whose `for:` durations are cut
// to 2s, and returns its base URL. It is killed when the test ends.
func startPrometheus(t *testing.T, c *procCluster) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skipf("prometheus not on PATH: install it with %q to run the alerting e2e test", prometheusInstall)
	}
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	fast := regexp.MustCompile(`(?m)^(\s+)for: \S+$`).ReplaceAll(rules, []byte("${1}for: 2s"))
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), fast, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: raftkv
    static_configs:
      - targets: [%q, %q, %q]
`, c.httpAddr("n1"), c.httpAddr("n2"), c.httpAddr("n3"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := servertest.FreeAddrs(t, 1)[0]
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		cancel() // SIGKILL: nothing to keep
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- prometheus log ----\n%s", b)
		}
	})
	base := "http://" + addr
	servertest.WaitFor(t, 30*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// promAlert is one entry of Prometheus' /api/v1/alerts.
type promAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
	Value    string            `json:"value"`
}

func promAlerts(t *testing.T, base string) []promAlert {
	t.Helper()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	promGet(t, base+"/api/v1/alerts", &out)
	return out.Data.Alerts
}

// promQuery returns the number of series an instant query returns.
func promQuery(t *testing.T, base, q string) int {
	t.Helper()
	var out struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	promGet(t, base+"/api/v1/query?query="+url.QueryEscape(q), &out)
	return len(out.Data.Result)
}

func promGet(t *testing.T, u string, v any) {
	t.Helper()
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", u, err)
	}
}

func alertState(alerts []promAlert, name string) (state string, n int) {
	for _, a := range alerts {
		if a.Labels["alertname"] == name {
			n++
			if state != "firing" {
				state = a.State
			}
		}
	}
	return state, n
}

// TestMonitoring_AlertsFireInRealPrometheus runs the shipped alert rules in
// a real Prometheus against a real three-node cluster: killing two nodes
// makes RaftkvQuorumLost (and RaftkvMemberDown, RaftkvNodeDegraded) fire,
// and bringing them back resolves it.
func TestMonitoring_AlertsFireInRealPrometheus(t *testing.T) {
	c := startCluster(t)
	prom := startPrometheus(t, c)

	servertest.WaitFor(t, 30*time.Second, "three targets up with raftkv metrics", func() bool {
		return promQuery(t, prom, `up{job="raftkv"} == 1`) == 3 &&
			promQuery(t, prom, `raftkv_raft_is_leader == 1`) == 1
	})
	// The raft telemetry bridge works in a real kvd: applies were measured.
	servertest.WaitFor(t, 30*time.Second, "raft apply latency scraped", func() bool {
		return promQuery(t, prom, `raftkv_raft_fsm_apply_seconds_count > 0`) > 0 &&
			promQuery(t, prom, `raftkv_raft_log_store_seconds_count > 0`) > 0
	})
	// A node is degraded until it first hears from a leader, so a scrape
	// taken during the first election can make the alert pending; on a
	// healthy cluster it must settle to inactive.
	servertest.WaitFor(t, 30*time.Second, "RaftkvQuorumLost inactive on a healthy cluster", func() bool {
		state, _ := alertState(promAlerts(t, prom), "RaftkvQuorumLost")
		return state == ""
	})

	survivor := c.leader(30 * time.Second)
	var victims []string
	for _, n := range []string{"n1", "n2", "n3"} {
		if n != survivor {
			victims = append(victims, n)
		}
	}
	killedAt := time.Now()
	for _, n := range victims {
		c.script("kill", n)
	}
	t.Logf("%s killed %v at %s; %s survives", time.Now().Format(time.RFC3339Nano), victims, killedAt.Format(time.RFC3339Nano), survivor)

	var firingAt time.Time
	servertest.WaitFor(t, 60*time.Second, "RaftkvQuorumLost firing", func() bool {
		state, _ := alertState(promAlerts(t, prom), "RaftkvQuorumLost")
		if state == "firing" && firingAt.IsZero() {
			firingAt = time.Now()
		}
		return state == "firing"
	})
	t.Logf("RaftkvQuorumLost firing at %s (%.1fs after the kill)", firingAt.Format(time.RFC3339Nano), firingAt.Sub(killedAt).Seconds())
	servertest.WaitFor(t, 30*time.Second, "RaftkvMemberDown firing for both victims and RaftkvNodeDegraded for the survivor", func() bool {
		alerts := promAlerts(t, prom)
		down, nDown := alertState(alerts, "RaftkvMemberDown")
		deg, _ := alertState(alerts, "RaftkvNodeDegraded")
		return down == "firing" && nDown == 2 && deg == "firing"
	})
	for _, a := range promAlerts(t, prom) {
		t.Logf("alert %s{instance=%q} %s since %s", a.Labels["alertname"], a.Labels["instance"], a.State, a.ActiveAt.Format(time.RFC3339Nano))
	}

	restartedAt := time.Now()
	for _, n := range victims {
		c.script("start", n)
	}
	var resolvedAt time.Time
	servertest.WaitFor(t, 60*time.Second, "RaftkvQuorumLost resolved", func() bool {
		if _, n := alertState(promAlerts(t, prom), "RaftkvQuorumLost"); n == 0 {
			resolvedAt = time.Now()
			return true
		}
		return false
	})
	t.Logf("RaftkvQuorumLost resolved at %s (%.1fs after the restart)", resolvedAt.Format(time.RFC3339Nano), resolvedAt.Sub(restartedAt).Seconds())
	servertest.WaitFor(t, 60*time.Second, "every alert resolved", func() bool {
		alerts := promAlerts(t, prom)
		for _, name := range []string{"RaftkvMemberDown", "RaftkvNodeDegraded", "RaftkvNoLeader"} {
			if _, n := alertState(alerts, name); n > 0 {
				return false
			}
		}
		return true
	})
	if s := strings.TrimSpace(c.script("status")); !strings.Contains(s, "n1 running") {
		t.Errorf("cluster status after restart:\n%s", s)
	}
}
