//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
	"github.com/raftkv/raftkv/server/servertest"
	"github.com/raftkv/raftkv/store"
)

// binDir holds kvd and kvctl built once for the whole package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "raftkv-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := func() int {
		for _, name := range []string{"kvd", "kvctl"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
			cmd.Dir = repoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
				return 1
			}
		}
		return m.Run()
	}()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

// procCluster is a three-node cluster of real kvd processes managed by
// scripts/cluster.sh in a temporary directory on free ports.
type procCluster struct {
	t        *testing.T
	dir      string
	portBase int
	env      []string // extra environment for scripts/cluster.sh, e.g. TLS=1
}

func startCluster(t *testing.T, env ...string) *procCluster {
	t.Helper()
	c := &procCluster{t: t, dir: t.TempDir(), portBase: freePortBase(t), env: env}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs()
		}
		c.stopAll()
	})
	c.script("up")
	return c
}

// script runs scripts/cluster.sh with this cluster's environment.
func (c *procCluster) script(args ...string) string {
	c.t.Helper()
	out, err := c.scriptCmd(args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *procCluster) endpoints() []string {
	return []string{c.grpcAddr("n1"), c.grpcAddr("n2"), c.grpcAddr("n3")}
}

func (c *procCluster) grpcAddr(node string) string {
	return fmt.Sprintf("127.0.0.1:%d", c.portBase+int(node[1]-'0'))
}

// leader asks the script which node leads, waiting until one does.
func (c *procCluster) leader(timeout time.Duration) string {
	c.t.Helper()
	var leader string
	servertest.WaitFor(c.t, timeout, "a leader", func() bool {
		out, err := c.scriptCmd("leader").Output()
		leader = strings.TrimSpace(string(out))
		return err == nil && leader != ""
	})
	return leader
}

// scriptCmd builds a scripts/cluster.sh command with this cluster's environment.
func (c *procCluster) scriptCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(repoRoot(), "scripts", "cluster.sh"), args...)
	cmd.Env = append(os.Environ(),
		"CLUSTER_DIR="+c.dir,
		"BIN_DIR="+binDir,
		fmt.Sprintf("PORT_BASE=%d", c.portBase),
		"WAIT_SECONDS=30",
	)
	cmd.Env = append(cmd.Env, c.env...)
	return cmd
}

// stopAll stops every node the script started, then SIGKILLs any recorded
// PID still alive, so no process outlives the test.
func (c *procCluster) stopAll() {
	_ = c.scriptCmd("down").Run()
	pids, _ := filepath.Glob(filepath.Join(c.dir, "*.pid"))
	for _, f := range pids {
		b, _ := os.ReadFile(f)
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (c *procCluster) dumpLogs() {
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		b, err := os.ReadFile(filepath.Join(c.dir, n+".log"))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		c.t.Logf("---- %s log (last %d lines) ----\n%s", n, len(lines), strings.Join(lines, "\n"))
	}
}

// freePortBase picks a base such that base+1..4, base+101..104 and
// base+201..204 are all free right now, below the kernel's ephemeral port
// range (raftnodetest.StaticPortRange), so no outgoing connection's source
// port takes one before the script's nodes bind it.
func freePortBase(t *testing.T) int {
	t.Helper()
	lo, hi := raftnodetest.StaticPortRange()
	for range 200 {
		base := lo + rand.IntN((hi-lo-300)/100)*100
		ok := true
		var ls []net.Listener
		// n1..n3, and n4 for tests that add a replica with the script.
		for _, off := range []int{1, 2, 3, 4, 101, 102, 103, 104, 201, 202, 203, 204} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			_ = l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port block found")
	return 0
}

func newClient(t *testing.T, endpoints []string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: endpoints, DialTimeout: time.Second})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// expectKvctl runs kvctl with args, fails the test unless it exits with
// wantCode and (when wantOut is not empty) prints wantOut on stdout, and
// returns stdout and stderr together.
func (c *procCluster) expectKvctl(wantCode int, wantOut string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.kvctl(args...)
	if code != wantCode {
		c.t.Fatalf("kvctl %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out, errOut)
	}
	if wantOut != "" && !strings.Contains(out, wantOut) {
		c.t.Fatalf("kvctl %v: stdout %q does not contain %q", args, out, wantOut)
	}
	return out + errOut
}

// kvctl runs the kvctl binary against the cluster and returns stdout,
// stderr and the exit code.
func (c *procCluster) kvctl(args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kvctl"), append([]string{"--endpoints", strings.Join(c.endpoints(), ",")}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			c.t.Fatalf("kvctl %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// waitSameApplied waits until every node reports the same applied index,
// above zero.
func (c *procCluster) waitSameApplied(ctx context.Context, cl *client.Client, timeout time.Duration) {
	c.t.Helper()
	servertest.WaitFor(c.t, timeout, "all nodes at the same applied index", func() bool {
		var applied []uint64
		for _, ep := range c.endpoints() {
			st, err := cl.Status(ctx, ep)
			if err != nil {
				return false
			}
			applied = append(applied, st.AppliedIndex)
		}
		return applied[0] > 0 && applied[0] == applied[1] && applied[1] == applied[2]
	})
}

// checkStoreFiles opens each stopped node's own store.db and reports every
// acknowledged write it does not hold.
func (c *procCluster) checkStoreFiles(acked map[string]string) {
	c.t.Helper()
	for _, node := range []string{"n1", "n2", "n3"} {
		st, err := store.Open(filepath.Join(c.dir, node, "store.db"), nil)
		if err != nil {
			c.t.Fatalf("open %s store: %v", node, err)
		}
		missing := 0
		for k, v := range acked {
			kv, err := st.Get([]byte(k))
			if err != nil || string(kv.Value) != v {
				missing++
				if missing <= 5 {
					c.t.Errorf("%s: acknowledged %s=%s, found %q (%v)", node, k, v, kv.Value, err)
				}
			}
		}
		_ = st.Close()
		if missing > 0 {
			c.t.Errorf("%s lost %d of %d acknowledged writes", node, missing, len(acked))
		}
	}
}
