package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"

	"github.com/raftkv/raftkv/metrics"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
)

// startMonitoredCluster starts three nodes with the admin HTTP port on a
// kernel-chosen port and returns the cluster and each node's admin base URL.
func startMonitoredCluster(t *testing.T, tweak func(*server.Config)) (*servertest.Cluster, []string) {
	t.Helper()
	raftMetrics := metrics.NewRaftSink() // registered, not installed: go-metrics is global
	c := servertest.StartCluster(t, 3, func(cfg *server.Config) {
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.RaftMetrics = raftMetrics
		if tweak != nil {
			tweak(cfg)
		}
	})
	urls := make([]string, c.Size())
	for i := range urls {
		urls[i] = "http://" + c.Node(i).HTTPAddr()
	}
	return c, urls
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// metricRefRE finds metric names in PromQL and dashboard JSON.
var metricRefRE = regexp.MustCompile(`\braftkv_[a-zA-Z0-9_]+`)

// TestMonitoring_AlertAndDashboardMetricsExist checks that every raftkv_
// metric the alert rules and the Grafana dashboard query is exported by a
// real node, so a rename cannot silently disable an alert.
func TestMonitoring_AlertAndDashboardMetricsExist(t *testing.T) {
	// Bridge raft's telemetry for real, as kvd does, so the test also
	// proves that raft emits the keys RaftSink maps (with a peer_id label
	// for replication). go-metrics is process-global: every node of this
	// test reports to the same sink, and the cleanup puts a blackhole back.
	raftMetrics := metrics.NewRaftSink()
	if err := metrics.InstallRaftSink(raftMetrics); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cfg := gometrics.DefaultConfig("")
		cfg.EnableRuntimeMetrics = false
		_, _ = gometrics.NewGlobal(cfg, &gometrics.BlackholeSink{})
	})
	c, urls := startMonitoredCluster(t, func(cfg *server.Config) { cfg.RaftMetrics = raftMetrics })
	leader := c.Leader(leaderWait)
	// One request, so that nothing depends on pre-initialised series only.
	kv := kvpb.NewKVClient(dial(t, c.Endpoints()[leader]))
	if _, err := kv.Put(ctxTimeout(t, 5*time.Second), &kvpb.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("put: %v", err)
	}

	var scrape string
	servertest.WaitFor(t, 10*time.Second, "replication latency reported", func() bool {
		_, scrape = get(t, urls[leader]+"/metrics")
		return strings.Contains(scrape, "raftkv_raft_replication_append_entries_seconds_count{peer_id=")
	})
	exported := map[string]bool{}
	for _, line := range strings.Split(scrape, "\n") {
		if name, _, ok := strings.Cut(line, " "); ok && strings.HasPrefix(name, "raftkv_") {
			name, _, _ = strings.Cut(name, "{")
			exported[name] = true
		}
	}
	if len(exported) < 30 {
		t.Fatalf("only %d raftkv_ series names exported:\n%s", len(exported), scrape)
	}
	for _, file := range []string{"../deploy/prometheus/alerts.yml", "../deploy/grafana/raftkv.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		refs := metricRefRE.FindAllString(string(b), -1)
		if len(refs) == 0 {
			t.Errorf("%s references no raftkv_ metric", file)
		}
		for _, name := range refs {
			if !exported[name] {
				t.Errorf("%s uses %s, which a node does not export", file, name)
			}
		}
	}
	if got := metricValue(t, scrape, `raftkv_grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="kv.v1.KV"}`); got < 1 {
		t.Errorf("Put OK count = %v, want >= 1", got)
	}
	if got := metricValue(t, scrape, "raftkv_raft_is_leader"); got != 1 {
		t.Errorf("leader's raftkv_raft_is_leader = %v, want 1", got)
	}
}

// metricValue returns the value of the series written exactly as series.
func metricValue(t *testing.T, scrape, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("series %s not in scrape", series)
	return 0
}

// TestMonitoring_ProbesOnQuorumLoss checks the Kubernetes probe contract:
// once two of three nodes are gone the survivor is not ready (and says
// which checks fail) but stays live, so an orchestrator would not restart
// a healthy node because its peers died.
func TestMonitoring_ProbesOnQuorumLoss(t *testing.T) {
	c, urls := startMonitoredCluster(t, nil)
	leader := c.Leader(leaderWait)
	survivor := (leader + 1) % 3

	var code int
	var body string
	servertest.WaitFor(t, 10*time.Second, "survivor ready", func() bool {
		code, body = get(t, urls[survivor]+"/readyz?verbose")
		return code == http.StatusOK
	})
	for _, want := range []string{"[+]store ok", "[+]leader ok", "[+]quorum ok", "[+]caught-up ok", "readyz check passed"} {
		if !strings.Contains(body, want) {
			t.Errorf("readyz?verbose lacks %q:\n%s", want, body)
		}
	}
	if code, body := get(t, urls[survivor]+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("readyz = %d %q, want 200 \"ok\\n\"", code, body)
	}

	for i := range 3 {
		if i != survivor {
			c.Stop(i)
		}
	}
	servertest.WaitFor(t, 10*time.Second, "survivor degraded", func() bool {
		deg, _ := c.Node(survivor).Node().Degraded()
		return deg
	})
	code, body = get(t, urls[survivor]+"/readyz?verbose")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]quorum failed: degraded") ||
		!strings.Contains(body, "readyz check failed") {
		t.Errorf("readyz after quorum loss = %d, want 503 naming the quorum check:\n%s", code, body)
	}
	code, body = get(t, urls[survivor]+"/livez?verbose")
	if code != http.StatusOK || !strings.Contains(body, "[+]store ok") {
		t.Errorf("livez after quorum loss = %d, want 200:\n%s", code, body)
	}
	if code, body := get(t, urls[survivor]+"/readyz?exclude=quorum&exclude=leader&exclude=caught-up"); code != http.StatusOK {
		t.Errorf("readyz with the failing checks excluded = %d:\n%s", code, body)
	}
	_, scrape := get(t, urls[survivor]+"/metrics")
	if got := metricValue(t, scrape, "raftkv_raft_degraded"); got != 1 {
		t.Errorf("raftkv_raft_degraded = %v, want 1", got)
	}
}

// TestMonitoring_ClusterViewAndStatusPage checks /api/cluster, which the
// status page renders, and that the page and its assets are served.
func TestMonitoring_ClusterViewAndStatusPage(t *testing.T) {
	c, urls := startMonitoredCluster(t, nil)
	leader := c.Leader(leaderWait)
	follower := (leader + 1) % 3

	var view struct {
		Node     string `json:"node"`
		LeaderID string `json:"leader_id"`
		Members  []struct {
			ID        string `json:"id"`
			Role      string `json:"role"`
			Reachable bool   `json:"reachable"`
			Self      bool   `json:"self"`
		} `json:"members"`
		LeaderChanges []metrics.LeaderChange `json:"leader_changes"`
	}
	_, body := get(t, urls[follower]+"/api/cluster")
	if err := json.Unmarshal([]byte(body), &view); err != nil {
		t.Fatalf("api/cluster: %v\n%s", err, body)
	}
	var roles []string
	for _, m := range view.Members {
		if !m.Reachable {
			t.Errorf("member %s unreachable", m.ID)
		}
		roles = append(roles, m.ID+"="+m.Role)
	}
	slices.Sort(roles)
	leaderID := fmt.Sprintf("n%d", leader+1)
	if len(view.Members) != 3 || view.LeaderID != leaderID || !slices.Contains(roles, leaderID+"=leader") {
		t.Errorf("api/cluster from %s: leader %q, members %v; want 3 members led by %s", view.Node, view.LeaderID, roles, leaderID)
	}
	if len(view.LeaderChanges) == 0 || view.LeaderChanges[len(view.LeaderChanges)-1].LeaderID != leaderID {
		t.Errorf("leader changes = %+v, want the last to be %s", view.LeaderChanges, leaderID)
	}

	for path, want := range map[string]string{"/": "<title>raftkv status</title>", "/ui/app.js": "/api/cluster", "/ui/style.css": "table"} {
		if code, body := get(t, urls[follower]+path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d, want 200 containing %q", path, code, want)
		}
	}
	if code, _ := get(t, urls[follower]+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

// TestMonitoring_PprofBehindFlag checks that profiles are served only when
// enabled.
func TestMonitoring_PprofBehindFlag(t *testing.T) {
	_, urls := startMonitoredCluster(t, func(cfg *server.Config) { cfg.PprofEnabled = cfg.NodeID == "n1" })
	if code, body := get(t, urls[0]+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof on n1 (enabled) = %d", code)
	}
	if code, _ := get(t, urls[1]+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof on n2 (disabled) = %d, want 404", code)
	}
}

// TestMonitoring_FollowerLagOnLeader: the leader exports each other
// member's lag in entries; a stopped member shows -1; followers export none.
func TestMonitoring_FollowerLagOnLeader(t *testing.T) {
	c, urls := startMonitoredCluster(t, nil)
	leader := c.Leader(leaderWait)
	cl := newClient(t, c.Endpoints()...)
	ctx := ctxTimeout(t, 20*time.Second)
	for i := range 20 {
		if _, err := cl.Put(ctx, fmt.Sprintf("lag/%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	a, b := (leader+1)%3, (leader+2)%3
	ids := []string{c.Node(0).ID(), c.Node(1).ID(), c.Node(2).ID()}
	series := func(i int) string {
		return fmt.Sprintf(`raftkv_follower_lag_entries{peer_id="%s"}`, ids[i])
	}
	servertest.WaitFor(t, 10*time.Second, "followers caught up in the lag metric", func() bool {
		_, scrape := get(t, urls[leader]+"/metrics")
		return metricValue(t, scrape, series(a)) == 0 && metricValue(t, scrape, series(b)) == 0
	})
	_, followerScrape := get(t, urls[a]+"/metrics")
	if strings.Contains(followerScrape, "raftkv_follower_lag_entries{") {
		t.Errorf("a follower exports raftkv_follower_lag_entries")
	}
	c.Stop(b)
	_, scrape := get(t, urls[leader]+"/metrics")
	if got := metricValue(t, scrape, series(b)); got != -1 {
		t.Errorf("lag of stopped member = %v, want -1", got)
	}
}
