//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/server/servertest"
)

// TestE2E_DockerCompose runs deploy/docker-compose.yml (three kvd containers
// built FROM scratch by scripts/docker-cluster.sh) under a project name,
// subnets and host ports of its own, so it can run beside `make
// docker-cluster`. It writes through kvctl, kills the leader's container
// (failover), cuts a follower off its peers network with `docker network
// disconnect` (degraded: NO_QUORUM for writes, stale reads still served),
// reconnects it (it catches up to the leader's applied index) and removes
// every container, network, volume and image it made, also on failure.
//
// It is skipped, saying why, when no Docker daemon answers `docker info`,
// when neither `docker compose` nor `docker-compose` is installed, or off
// Linux (the host must reach container IPs, which clients learn from the
// cluster).
func TestE2E_DockerCompose(t *testing.T) {
	compose := requireDocker(t)
	d := startDockerCluster(t, compose)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Writes through kvctl, from the host, to the published gRPC ports.
	acked := map[string]string{}
	for i := range 20 {
		k, v := fmt.Sprintf("docker/%02d", i), fmt.Sprintf("v%d", i)
		d.mustPut(k, v)
		acked[k] = v
	}
	if out, errOut, code := d.kvctl("get", "docker/07"); code != 0 || strings.TrimSpace(out) != "v7" {
		t.Fatalf("kvctl get docker/07 = %q (exit %d, stderr %q), want v7", out, code, errOut)
	}

	// Failover: SIGKILL the leader's container; the other two elect a
	// leader and writes through kvctl succeed again.
	old := d.leader(ctx, 30*time.Second, "")
	t.Logf("leader is %s; docker kill its container", old)
	killed := time.Now()
	d.docker(ctx, "kill", d.container(ctx, old))
	attempts := 0
	servertest.WaitFor(t, 30*time.Second, "a write to succeed after the leader's container was killed", func() bool {
		attempts++
		_, errOut, code := d.kvctl("--command-timeout", "10s", "put", "docker/failover", "done")
		if code != 0 {
			t.Logf("kvctl put after the kill: exit %d: %s", code, strings.TrimSpace(errOut))
		}
		return code == 0
	})
	t.Logf("write accepted %v after docker kill (%d kvctl runs)", time.Since(killed).Round(time.Millisecond), attempts)
	acked["docker/failover"] = "done"
	leader := d.leader(ctx, 10*time.Second, old)
	t.Logf("new leader: %s", leader)
	cl := newClient(t, d.endpoints())
	for k, v := range acked {
		got, err := cl.Get(ctx, k)
		if err != nil || string(got.KV.Value) != v {
			t.Fatalf("after failover: get %s = %v, %v; want %s", k, got, err, v)
		}
	}

	// Bring the killed node back on its volume and let it catch up, so the
	// partition below leaves a majority.
	d.docker(ctx, "start", d.container(ctx, old))
	d.waitCaughtUp(ctx, old, 60*time.Second)

	// Partition: disconnect a follower from the peers network. It stays
	// reachable for clients (the clients network), refuses writes with
	// NO_QUORUM and serves stale reads, flagged degraded.
	leader = d.leader(ctx, 10*time.Second, "")
	var f string
	for _, n := range dockerNodes {
		if n != leader {
			f = n
			break
		}
	}
	fc := d.container(ctx, f)
	t.Logf("leader %s; disconnecting follower %s from %s", leader, f, d.peersNet())
	cut := time.Now()
	d.docker(ctx, "network", "disconnect", d.peersNet(), fc)

	cc, err := grpc.NewClient(d.grpcAddr(f), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	kv, health := kvpb.NewKVClient(cc), healthpb.NewHealthClient(cc)
	servertest.WaitFor(t, 10*time.Second, f+" health: write NOT_SERVING, read-stale SERVING", func() bool {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		w, err1 := health.Check(hctx, &healthpb.HealthCheckRequest{Service: rpc.WriteService})
		r, err2 := health.Check(hctx, &healthpb.HealthCheckRequest{Service: rpc.StaleReadService})
		return err1 == nil && err2 == nil && w.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING &&
			r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	t.Logf("%s degraded (health) %v after the disconnect", f, time.Since(cut).Round(time.Millisecond))
	servertest.WaitFor(t, 5*time.Second, f+" to refuse writes with NO_QUORUM", func() bool {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := kv.Put(wctx, &kvpb.PutRequest{Key: []byte("docker/refused"), Value: []byte("x")})
		return reason(err) == rpc.ReasonNoQuorum
	})
	if st := d.status(ctx, f); st == nil || !st.Degraded {
		t.Fatalf("/status of %s = %+v, want degraded", f, st)
	}
	for k, v := range acked {
		got, err := kv.Get(ctx, &kvpb.GetRequest{Key: []byte(k), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}})
		if err != nil || string(got.GetKv().GetValue()) != v || !got.GetHeader().GetDegraded() {
			t.Fatalf("stale read of %s on degraded %s = %v, %v; want %s flagged degraded", k, f, got, err, v)
		}
	}
	// kvctl is in the image too: a stale read from inside the cut-off container.
	if out := d.docker(ctx, "exec", fc, "/kvctl", "--endpoints", "127.0.0.1:7001",
		"get", "--consistency", "stale", "docker/03"); strings.TrimSpace(out) != "v3" {
		t.Fatalf("docker exec kvctl stale get docker/03 = %q, want v3", out)
	}

	// The majority goes on: a write through kvctl commits without f, and f
	// does not have it.
	idx := d.mustPut("docker/partitioned", "yes")
	acked["docker/partitioned"] = "yes"
	_, err = kv.Get(ctx, &kvpb.GetRequest{Key: []byte("docker/partitioned"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("stale read on cut-off %s of a write made during the partition: %v, want NotFound", f, err)
	}

	// Heal: reconnect with its fixed IP (raft addresses are IP literals);
	// f catches up and serves the write it missed.
	healed := time.Now()
	d.docker(ctx, "network", "connect", "--ip", d.peerIP(f), d.peersNet(), fc)
	servertest.WaitFor(t, 30*time.Second, f+" to apply the write it missed", func() bool {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		got, err := kv.Get(rctx, &kvpb.GetRequest{Key: []byte("docker/partitioned"),
			Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE, MinIndex: idx}})
		return err == nil && string(got.GetKv().GetValue()) == "yes"
	})
	d.waitCaughtUp(ctx, f, 30*time.Second)
	t.Logf("%s caught up %v after reconnecting", f, time.Since(healed).Round(time.Millisecond))
	servertest.WaitFor(t, 10*time.Second, f+" health: write SERVING", func() bool {
		w, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: rpc.WriteService})
		return err == nil && w.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
	for k, v := range acked {
		got, err := cl.Get(ctx, k)
		if err != nil || string(got.KV.Value) != v {
			t.Fatalf("after healing: get %s = %v, %v; want %s", k, got, err, v)
		}
	}
}

var dockerNodes = []string{"n1", "n2", "n3"}

// requireDocker skips the test unless a Docker daemon answers and compose is
// installed; it returns the compose command.
func requireDocker(t *testing.T) []string {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		t.Skip("SKIP container test: " + fmt.Sprintf(format, args...))
	}
	if runtime.GOOS != "linux" {
		skip("needs Linux, where the host reaches container IPs (GOOS=%s)", runtime.GOOS)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		skip("no docker command in PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	info := exec.CommandContext(ctx, "docker", "info")
	info.Stderr = &stderr
	if err := info.Run(); err != nil {
		skip("no Docker daemon answers `docker info` (%v): %s", err, firstLine(stderr.Bytes()))
	}
	if exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	skip("neither `docker compose` nor `docker-compose` is installed")
	return nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// dockerCluster is one compose project of deploy/docker-compose.yml.
type dockerCluster struct {
	t         *testing.T
	compose   []string
	project   string
	image     string
	buildDir  string // relative to the repo root
	peerNet   string // first three octets of the peers /24
	clientNet string
	grpcPorts map[string]int
	httpPorts map[string]int
	httpc     *http.Client
}

func startDockerCluster(t *testing.T, compose []string) *dockerCluster {
	t.Helper()
	id := fmt.Sprintf("%08x", mathrand.Uint32())
	d := &dockerCluster{
		t:         t,
		compose:   compose,
		project:   "raftkv-e2e-" + id,
		image:     "raftkv:e2e-" + id,
		buildDir:  "bin/docker-e2e-" + id,
		grpcPorts: map[string]int{},
		httpPorts: map[string]int{},
		httpc:     &http.Client{Timeout: 2 * time.Second},
	}
	t.Cleanup(d.cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "scripts", "docker-cluster.sh"), "image")
	cmd.Env = append(os.Environ(), "IMAGE="+d.image, "BUILD_DIR="+d.buildDir, "PROJECT="+d.project)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-cluster.sh image: %v\n%s", err, out)
	}
	t.Logf("image %s built in %v", d.image, time.Since(start).Round(time.Millisecond))

	// Another run may take the same subnets between the check and `up`:
	// then pick others and try again.
	start = time.Now()
	for attempt := 1; ; attempt++ {
		d.pickAddresses()
		out, err := d.composeCmd(ctx, "up", "-d").CombinedOutput()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(strings.ToLower(string(out)), "overlap") {
			t.Fatalf("compose up: %v\n%s", err, out)
		}
		t.Logf("compose up (attempt %d): address pool taken; retrying with other subnets", attempt)
		_, _ = d.composeCmd(ctx, "down", "-v", "--remove-orphans").CombinedOutput()
	}
	t.Logf("compose project %s up (peers %s.0/24, clients %s.0/24, gRPC %v, HTTP %v)",
		d.project, d.peerNet, d.clientNet, d.grpcPorts, d.httpPorts)
	leader := d.leader(ctx, 60*time.Second, "")
	for _, n := range dockerNodes {
		servertest.WaitFor(t, 30*time.Second, n+" /readyz", func() bool { return d.ready(ctx, n) })
	}
	t.Logf("leader %s elected and every node ready %v after compose up", leader, time.Since(start).Round(time.Millisecond))
	return d
}

// pickAddresses chooses two /24 subnets in 172.31.0.0/16 that no Docker
// network or host interface uses (and not the 213/214 of `make
// docker-cluster`), and six free host ports.
func (d *dockerCluster) pickAddresses() {
	d.t.Helper()
	var used []*net.IPNet
	ids := strings.Fields(d.docker(context.Background(), "network", "ls", "-q"))
	if len(ids) > 0 {
		out := d.docker(context.Background(), append([]string{"network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, ids...)...)
		for _, s := range strings.Fields(out) {
			if _, n, err := net.ParseCIDR(s); err == nil {
				used = append(used, n)
			}
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				used = append(used, n)
			}
		}
	}
	var picked []string
	for _, x := range mathrand.Perm(190) {
		x += 64
		if x == 213 || x == 214 {
			continue
		}
		_, cand, _ := net.ParseCIDR(fmt.Sprintf("172.31.%d.0/24", x))
		if slices.ContainsFunc(used, func(u *net.IPNet) bool { return u.Contains(cand.IP) || cand.Contains(u.IP) }) {
			continue
		}
		picked = append(picked, fmt.Sprintf("172.31.%d", x))
		used = append(used, cand)
		if len(picked) == 2 {
			break
		}
	}
	if len(picked) < 2 {
		d.t.Fatal("no free /24 in 172.31.0.0/16 for the test's networks")
	}
	d.peerNet, d.clientNet = picked[0], picked[1]
	addrs := servertest.FreeAddrs(d.t, 6)
	for i, n := range dockerNodes {
		d.grpcPorts[n] = portOf(d.t, addrs[i])
		d.httpPorts[n] = portOf(d.t, addrs[3+i])
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// composeCmd is compose with this project, the repo's compose file and the
// environment that sets its image, subnets and ports.
func (d *dockerCluster) composeCmd(ctx context.Context, args ...string) *exec.Cmd {
	full := append(slices.Clone(d.compose[1:]), "-p", d.project, "-f", filepath.Join(repoRoot(), "deploy", "docker-compose.yml"))
	cmd := exec.CommandContext(ctx, d.compose[0], append(full, args...)...)
	cmd.Env = append(os.Environ(),
		"RAFTKV_IMAGE="+d.image,
		"RAFTKV_PEER_NET="+d.peerNet,
		"RAFTKV_CLIENT_NET="+d.clientNet,
		"RAFTKV_HOST_IP=127.0.0.1",
	)
	for i, n := range dockerNodes {
		cmd.Env = append(cmd.Env,
			fmt.Sprintf("RAFTKV_N%d_GRPC_PORT=%d", i+1, d.grpcPorts[n]),
			fmt.Sprintf("RAFTKV_N%d_HTTP_PORT=%d", i+1, d.httpPorts[n]))
	}
	return cmd
}

// docker runs a docker command and returns its stdout; it fails the test on error.
func (d *dockerCluster) docker(ctx context.Context, args ...string) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// container returns the id of node's container, running or not (-a:
// compose v2 lists only running ones by default).
func (d *dockerCluster) container(ctx context.Context, node string) string {
	d.t.Helper()
	out, err := d.composeCmd(ctx, "ps", "-a", "-q", node).Output()
	id := strings.TrimSpace(string(out))
	if err != nil || id == "" {
		d.t.Fatalf("compose ps -a -q %s: %q, %v", node, out, err)
	}
	return strings.Fields(id)[0]
}

// peersNet is the name compose gives the peers network.
func (d *dockerCluster) peersNet() string { return d.project + "_peers" }

func (d *dockerCluster) peerIP(node string) string {
	return fmt.Sprintf("%s.%d", d.peerNet, 11+slices.Index(dockerNodes, node))
}

func (d *dockerCluster) grpcAddr(node string) string {
	return fmt.Sprintf("127.0.0.1:%d", d.grpcPorts[node])
}

func (d *dockerCluster) endpoints() []string {
	var eps []string
	for _, n := range dockerNodes {
		eps = append(eps, d.grpcAddr(n))
	}
	return eps
}

// kvctl runs the host's kvctl against the published gRPC ports.
func (d *dockerCluster) kvctl(args ...string) (string, string, int) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kvctl"),
		append([]string{"--endpoints", strings.Join(d.endpoints(), ",")}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	d.t.Fatalf("kvctl %v: %v", args, err)
	return "", "", 0
}

// mustPut writes k=v through kvctl and returns the write's raft index.
func (d *dockerCluster) mustPut(k, v string) uint64 {
	d.t.Helper()
	out, errOut, code := d.kvctl("-w", "json", "put", k, v)
	if code != 0 {
		d.t.Fatalf("kvctl put %s: exit %d: %s", k, code, errOut)
	}
	var resp struct {
		Index uint64 `json:"index"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Index == 0 {
		d.t.Fatalf("kvctl put %s -w json: %q: %v", k, out, err)
	}
	return resp.Index
}

// nodeStatus is the part of GET /status the test reads.
type nodeStatus struct {
	ID           string `json:"id"`
	Role         string `json:"role"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Degraded     bool   `json:"degraded"`
}

// status is node's GET /status through its published admin port, or nil.
func (d *dockerCluster) status(ctx context.Context, node string) *nodeStatus {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/status", d.httpPorts[node]), nil)
	resp, err := d.httpc.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var st nodeStatus
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return nil
	}
	return &st
}

func (d *dockerCluster) ready(ctx context.Context, node string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/readyz", d.httpPorts[node]), nil)
	resp, err := d.httpc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// leader waits for a node other than not to report itself leader.
func (d *dockerCluster) leader(ctx context.Context, timeout time.Duration, not string) string {
	d.t.Helper()
	var leader string
	servertest.WaitFor(d.t, timeout, "a leader", func() bool {
		for _, n := range dockerNodes {
			if n == not {
				continue
			}
			if st := d.status(ctx, n); st != nil && st.Role == "leader" {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// waitCaughtUp waits until node is not degraded and has applied as much as
// the leader.
func (d *dockerCluster) waitCaughtUp(ctx context.Context, node string, timeout time.Duration) {
	d.t.Helper()
	servertest.WaitFor(d.t, timeout, node+" to catch up with the leader", func() bool {
		st := d.status(ctx, node)
		if st == nil || st.Degraded {
			return false
		}
		for _, n := range dockerNodes {
			if l := d.status(ctx, n); l != nil && l.Role == "leader" {
				return st.AppliedIndex >= l.AppliedIndex
			}
		}
		return false
	})
}

// cleanup removes everything the test created: the compose project
// (containers, networks, volumes), then anything left with its label, the
// image and the binaries.
func (d *dockerCluster) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if d.t.Failed() && d.peerNet != "" {
		if out, err := d.composeCmd(ctx, "logs", "--no-color", "--tail", "60").CombinedOutput(); err == nil {
			d.t.Logf("---- compose logs (last 60 lines per node) ----\n%s", out)
		}
	}
	if d.peerNet != "" {
		if out, err := d.composeCmd(ctx, "down", "-v", "--remove-orphans", "-t", "5").CombinedOutput(); err != nil {
			d.t.Logf("compose down: %v\n%s", err, out)
		}
	}
	label := "label=com.docker.compose.project=" + d.project
	run := func(args ...string) string {
		out, err := exec.CommandContext(ctx, "docker", args...).Output()
		if err != nil {
			d.t.Logf("cleanup: docker %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	if ids := strings.Fields(run("ps", "-aq", "--filter", label)); len(ids) > 0 {
		d.t.Logf("cleanup: removing leftover containers %v", ids)
		run(append([]string{"rm", "-f", "-v"}, ids...)...)
	}
	if ids := strings.Fields(run("network", "ls", "-q", "--filter", label)); len(ids) > 0 {
		d.t.Logf("cleanup: removing leftover networks %v", ids)
		run(append([]string{"network", "rm"}, ids...)...)
	}
	if ids := strings.Fields(run("volume", "ls", "-q", "--filter", label)); len(ids) > 0 {
		d.t.Logf("cleanup: removing leftover volumes %v", ids)
		run(append([]string{"volume", "rm", "-f"}, ids...)...)
	}
	if strings.TrimSpace(run("images", "-q", d.image)) != "" {
		run("rmi", "-f", d.image)
	}
	_ = os.RemoveAll(filepath.Join(repoRoot(), d.buildDir))
}
