package raftnodetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreeAddrs returns n distinct loopback addresses that are free and stay
// reserved for this test. Use them only where addresses must be known
// before the nodes start (a multi-node InitialCluster) or must survive a
// node's restart; otherwise bind "127.0.0.1:0".
//
// A port that was merely free a moment ago can be taken before the node
// binds it: "127.0.0.1:0" hands out ports from the kernel's ephemeral
// range, which is also where every outgoing connection's source port comes
// from, on a machine running other test binaries in parallel. So the ports
// come from below that range (StaticPortRange), which the kernel never
// hands out by itself, and each is reserved across processes with a lock
// file that the test holds until it ends (unix), so two test binaries
// never pick the same one. A node that restarts finds its port still free.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	lo, hi := StaticPortRange()
	addrs := make([]string, 0, n)
	for attempt := 0; len(addrs) < n; attempt++ {
		if attempt == 1000 {
			t.Fatalf("no free port in %d-%d after %d attempts", lo, hi, attempt)
		}
		port := lo + rand.IntN(hi-lo)
		release, ok := reservePort(t, port)
		if !ok {
			continue // another test binary holds it
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			release() // in use by something that does not take the lock
			continue
		}
		_ = l.Close()
		t.Cleanup(release)
		addrs = append(addrs, addr)
	}
	return addrs
}

// StaticPortRange returns [lo, hi): ports below the kernel's ephemeral
// range (Linux: /proc/sys/net/ipv4/ip_local_port_range, 32768 by default),
// and above the well-known and commonly registered services.
func StaticPortRange() (lo, hi int) {
	ephemeralLo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				ephemeralLo = v
			}
		}
	}
	lo, hi = 20000, ephemeralLo
	if hi-lo < 2000 { // an unusual ephemeral range: take what is below it
		lo = max(hi-12000, 1024)
	}
	return lo, hi
}

// portLockDir is where reservePort keeps its lock files, shared by every
// test binary on the machine.
func portLockDir() (string, error) {
	dir := fmt.Sprintf("%s/raftkv-test-ports-%d", os.TempDir(), os.Getuid())
	return dir, os.MkdirAll(dir, 0o700)
}
