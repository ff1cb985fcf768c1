package raftnodetest

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeAddrs_BelowEphemeralAndReserved(t *testing.T) {
	lo, hi := StaticPortRange()
	addrs := FreeAddrs(t, 5)
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("FreeAddrs returned %s twice: %v", a, addrs)
		}
		seen[a] = true
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port < lo || port >= hi {
			t.Errorf("port %d outside the static range %d-%d", port, lo, hi)
		}
		// Bindable: nothing else took it.
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("returned address %s cannot be bound: %v", a, err)
		}
		_ = l.Close()
		// Reserved: a second reservation (as another test binary would
		// try) is refused while this test runs.
		if release, ok := reservePort(t, port); ok {
			release()
			if isUnix {
				t.Errorf("port %d could be reserved twice", port)
			}
		}
	}
}
