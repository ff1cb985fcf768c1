package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// subnetPrefix is the /16 from which each run takes one /24. It is private
// (RFC 1918) and unlikely to be routed on a developer machine; a /24 already
// present on any interface is skipped.
const subnetPrefix = "10.213"

// cmdTimeout bounds every ip, iptables and tc invocation.
const cmdTimeout = 10 * time.Second

// ErrUnsupported means this machine cannot host the harness: not root, or
// ip netns, iptables or a bridge cannot be used. Tests skip on it.
var ErrUnsupported = errors.New("chaos harness unsupported here")

// Network is a private layer-2 network for one run: a bridge in the root
// namespace holding X.1 (the harness's address) and, per node, a network
// namespace raftkv-<run>-n<i> with a veth pair whose namespace end holds
// X.(10+i). Partitions are iptables DROP rules inside the node namespaces
// that name peer addresses only, so the harness always reaches every node.
//
// Methods are safe for use by one goroutine at a time (the nemesis); Close
// may be called from another once that goroutine has stopped.
type Network struct {
	// RunID names the run's namespaces and links ("217" for 10.213.217.0/24).
	RunID string
	// Bridge is the bridge device in the root namespace.
	Bridge string
	// HostIP is the harness's address on the bridge.
	HostIP string

	octet   int
	netem   bool // the kernel has sch_netem (probed once)
	nodes   []netNode
	fwdRule []string // root-namespace FORWARD rule added for the bridge; nil if none
}

// netNode is one node's namespace and link.
type netNode struct {
	ns     string // namespace name
	ip     string // address inside the namespace
	veth   string // link inside the namespace
	peerIf string // host end of the veth pair, enslaved to the bridge
}

// Supported reports whether the harness can run here, and if not, why.
func Supported() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (network namespaces, iptables)", ErrUnsupported)
	}
	for _, bin := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%w: %s not found", ErrUnsupported, bin)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := run(ctx, "ip", "netns", "list"); err != nil {
		return fmt.Errorf("%w: ip netns unavailable: %w", ErrUnsupported, err)
	}
	return nil
}

// NewNetwork creates the bridge and n namespaces. On error, whatever was
// created is removed again.
func NewNetwork(ctx context.Context, n int) (nw *Network, err error) {
	if err := Supported(); err != nil {
		return nil, err
	}
	nw = &Network{}
	defer func() {
		if err != nil {
			_ = nw.Close()
			nw = nil
		}
	}()
	if err := nw.allocBridge(ctx); err != nil {
		return nil, err
	}
	base := fmt.Sprintf("%s.%d", subnetPrefix, nw.octet)
	nw.HostIP = base + ".1"
	steps := [][]string{
		{"ip", "addr", "add", nw.HostIP + "/24", "dev", nw.Bridge},
		{"ip", "link", "set", nw.Bridge, "up"},
	}
	if err := runAll(ctx, steps); err != nil {
		return nil, err
	}
	// With br_netfilter loaded, bridged frames traverse the root FORWARD
	// chain, whose policy Docker sets to DROP: let the bridge talk to itself.
	nw.fwdRule = []string{"FORWARD", "-i", nw.Bridge, "-o", nw.Bridge, "-j", "ACCEPT"}
	if _, err := run(ctx, "iptables", append([]string{"-w", "-I"}, nw.fwdRule...)...); err != nil {
		nw.fwdRule = nil
		return nil, fmt.Errorf("%w: allow forwarding on %s: %w", ErrUnsupported, nw.Bridge, err)
	}
	for i := 1; i <= n; i++ {
		nn := netNode{
			ns:     fmt.Sprintf("raftkv-%s-n%d", nw.RunID, i),
			ip:     fmt.Sprintf("%s.%d", base, 10+i),
			veth:   fmt.Sprintf("rkc%sv%d", nw.RunID, i),
			peerIf: fmt.Sprintf("rkc%sh%d", nw.RunID, i),
		}
		nw.nodes = append(nw.nodes, nn)
		steps := [][]string{
			{"ip", "netns", "add", nn.ns},
			{"ip", "link", "add", nn.peerIf, "type", "veth", "peer", "name", nn.veth},
			{"ip", "link", "set", nn.veth, "netns", nn.ns},
			{"ip", "link", "set", nn.peerIf, "master", nw.Bridge},
			{"ip", "link", "set", nn.peerIf, "up"},
			{"ip", "-n", nn.ns, "link", "set", "lo", "up"},
			{"ip", "-n", nn.ns, "addr", "add", nn.ip + "/24", "dev", nn.veth},
			{"ip", "-n", nn.ns, "link", "set", nn.veth, "up"},
		}
		if err := runAll(ctx, steps); err != nil {
			return nil, err
		}
	}
	// Probe netem on a link of our own; without it Slow falls back to tbf.
	first := nw.nodes[0]
	if _, err := run(ctx, "ip", "netns", "exec", first.ns, "tc", "qdisc", "add", "dev", first.veth, "root", "netem", "delay", "1ms"); err == nil {
		nw.netem = true
		_, _ = run(ctx, "ip", "netns", "exec", first.ns, "tc", "qdisc", "del", "dev", first.veth, "root")
	}
	return nw, nil
}

// allocBridge picks a free /24 and claims it by creating its bridge: link
// creation is atomic, so two runs never get the same octet.
func (nw *Network) allocBridge(ctx context.Context) error {
	used, err := run(ctx, "ip", "-o", "-4", "addr")
	if err != nil {
		return fmt.Errorf("%w: list addresses: %w", ErrUnsupported, err)
	}
	start := rand.IntN(250)
	for k := range 250 {
		octet := 2 + (start+k)%250
		if strings.Contains(used, fmt.Sprintf(" %s.%d.", subnetPrefix, octet)) {
			continue
		}
		name := fmt.Sprintf("rkc%dbr", octet)
		if _, err := run(ctx, "ip", "link", "add", name, "type", "bridge"); err != nil {
			if strings.Contains(err.Error(), "exists") {
				continue
			}
			return fmt.Errorf("%w: create bridge: %w", ErrUnsupported, err)
		}
		nw.octet, nw.Bridge, nw.RunID = octet, name, fmt.Sprint(octet)
		// Record the owner so that CleanupStale can tell a crashed run's
		// leftovers from a live run's network.
		if err := os.MkdirAll(ownerDir, 0o755); err == nil {
			_ = os.WriteFile(nw.ownerFile(), []byte(fmt.Sprint(os.Getpid())), 0o644)
		}
		return nil
	}
	return errors.New("no free subnet in " + subnetPrefix + ".0.0/16")
}

// Size is the number of node namespaces.
func (nw *Network) Size() int { return len(nw.nodes) }

// IP is node i's address (0-based).
func (nw *Network) IP(i int) string { return nw.nodes[i].ip }

// Namespace is node i's namespace name (0-based).
func (nw *Network) Namespace(i int) string { return nw.nodes[i].ns }

// Block drops every packet from node from that arrives at node to. Blocking
// both directions makes a symmetric cut; one direction is an asymmetric one.
func (nw *Network) Block(ctx context.Context, from, to int) error {
	_, err := run(ctx, "ip", "netns", "exec", nw.nodes[to].ns,
		"iptables", "-w", "-A", "INPUT", "-s", nw.nodes[from].ip, "-j", "DROP")
	return err
}

// Partition cuts every link between nodes of different groups, both ways.
// Nodes in no group keep every link.
func (nw *Network) Partition(ctx context.Context, groups ...[]int) error {
	for gi, g := range groups {
		for gj, h := range groups {
			if gi == gj {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					if err := nw.Block(ctx, a, b); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// Slow impairs node i's links to its peers: lossPct percent of the packets
// it receives from them are dropped (iptables statistic match), and what it
// sends is delayed by delay ± jitter with netem where the kernel has it, or
// else squeezed through a token bucket of rateKbit (tbf), whose queue adds
// delay. It returns a description of what it did.
func (nw *Network) Slow(ctx context.Context, i int, delay, jitter time.Duration, lossPct float64, rateKbit int) (string, error) {
	nn := nw.nodes[i]
	for j, peer := range nw.nodes {
		if j == i || lossPct <= 0 {
			continue
		}
		if _, err := run(ctx, "ip", "netns", "exec", nn.ns, "iptables", "-w", "-A", "INPUT", "-s", peer.ip,
			"-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.3f", lossPct/100), "-j", "DROP"); err != nil {
			return "", err
		}
	}
	desc := fmt.Sprintf("loss %.1f%%", lossPct)
	tc := []string{"netns", "exec", nn.ns, "tc", "qdisc", "replace", "dev", nn.veth, "root"}
	if nw.netem {
		tc = append(tc, "netem", "delay", fmt.Sprintf("%dms", delay.Milliseconds()), fmt.Sprintf("%dms", jitter.Milliseconds()))
		desc += fmt.Sprintf(", delay %v±%v", delay, jitter)
	} else {
		tc = append(tc, "tbf", "rate", fmt.Sprintf("%dkbit", rateKbit), "burst", "16kb", "latency", "500ms")
		desc += fmt.Sprintf(", rate %dkbit (tbf; no netem in this kernel)", rateKbit)
	}
	if _, err := run(ctx, "ip", tc...); err != nil {
		return "", err
	}
	return desc, nil
}

// Heal removes every partition rule and link impairment.
func (nw *Network) Heal(ctx context.Context) error {
	var errs []error
	for _, nn := range nw.nodes {
		if _, err := run(ctx, "ip", "netns", "exec", nn.ns, "iptables", "-w", "-F", "INPUT"); err != nil {
			errs = append(errs, err)
		}
		// Deleting a qdisc that was never added fails; that is fine.
		_, _ = run(ctx, "ip", "netns", "exec", nn.ns, "tc", "qdisc", "del", "dev", nn.veth, "root")
	}
	return errors.Join(errs...)
}

// Close removes the namespaces (and with them their links and rules), the
// bridge and the root FORWARD rule. It tries every step and returns the
// errors joined. It must not race with other methods.
func (nw *Network) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*cmdTimeout)
	defer cancel()
	var errs []error
	for _, nn := range nw.nodes {
		if _, err := run(ctx, "ip", "netns", "del", nn.ns); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
		// The host end normally vanishes with its peer; remove it if not.
		_, _ = run(ctx, "ip", "link", "del", nn.peerIf)
	}
	nw.nodes = nil
	if nw.fwdRule != nil {
		if _, err := run(ctx, "iptables", append([]string{"-w", "-D"}, nw.fwdRule...)...); err != nil {
			errs = append(errs, err)
		}
		nw.fwdRule = nil
	}
	if nw.Bridge != "" {
		if _, err := run(ctx, "ip", "link", "del", nw.Bridge); err != nil {
			errs = append(errs, err)
		}
		nw.Bridge = ""
		_ = os.Remove(nw.ownerFile())
	}
	return errors.Join(errs...)
}

// ownerDir holds one file per live network, named after its octet and
// holding the PID of the process that owns it.
const ownerDir = "/run/raftkv-chaos"

func (nw *Network) ownerFile() string {
	return filepath.Join(ownerDir, fmt.Sprintf("%d.pid", nw.octet))
}

// CleanupStale removes the namespaces, links, bridge and FORWARD rule of
// every network whose owning process has died without cleaning up (for
// example after SIGKILL; its kvd processes died with it). Networks of live
// runs are left alone. It returns the run IDs it removed.
func CleanupStale(ctx context.Context) ([]string, error) {
	if err := Supported(); err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(ownerDir, "*.pid"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, f := range files {
		var octet, pid int
		if _, err := fmt.Sscanf(filepath.Base(f), "%d.pid", &octet); err != nil {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if _, err := fmt.Sscan(string(b), &pid); err == nil && alive(pid) {
			continue // owner alive (or the PID was reused: err on the side of keeping)
		}
		nw := &Network{octet: octet, RunID: fmt.Sprint(octet), Bridge: fmt.Sprintf("rkc%dbr", octet)}
		nw.fwdRule = []string{"FORWARD", "-i", nw.Bridge, "-o", nw.Bridge, "-j", "ACCEPT"}
		out, _ := run(ctx, "ip", "netns", "list")
		for _, line := range strings.Split(out, "\n") {
			if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, "raftkv-"+nw.RunID+"-n") {
				nw.nodes = append(nw.nodes, netNode{ns: name, peerIf: "rkc" + nw.RunID + "h" + strings.TrimPrefix(name, "raftkv-"+nw.RunID+"-n")})
			}
		}
		if err := nw.Close(); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, nw.RunID)
	}
	return removed, errors.Join(errs...)
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	_, rest, ok := strings.Cut(string(b), ") ")
	return !ok || !strings.HasPrefix(rest, "Z")
}

// run executes one command with a deadline and returns its stdout; a
// failure carries the command line and stderr.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// runAll runs commands in order and stops at the first failure.
func runAll(ctx context.Context, cmds [][]string) error {
	for _, c := range cmds {
		if _, err := run(ctx, c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}
