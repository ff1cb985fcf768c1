package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: Close must
// stop the refresh loop and the probes it owns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
