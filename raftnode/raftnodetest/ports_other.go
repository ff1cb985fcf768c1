//go:build !unix

package raftnodetest

import "testing"

// reservePort cannot reserve across processes here; FreeAddrs relies on
// the port range alone.
func reservePort(testing.TB, int) (release func(), ok bool) { return func() {}, true }

// isUnix reports whether reservePort reserves across processes.
const isUnix = false
