package gateway

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// TestLimits_MatchStore keeps the gateway's copies of the cluster's limits
// in step with the store's (the gateway may not import store).
func TestLimits_MatchStore(t *testing.T) {
	if MaxKeyBytes != store.MaxKeyBytes || MaxValueBytes != store.MaxValueBytes || MaxListLimit != store.MaxListLimit {
		t.Errorf("gateway limits %d/%d/%d, store %d/%d/%d", MaxKeyBytes, MaxValueBytes, MaxListLimit,
			store.MaxKeyBytes, store.MaxValueBytes, store.MaxListLimit)
	}
}

// TestImportBoundaries: the gateway is a client of the cluster, like kvctl,
// and must not pull in server code, raft or bbolt.
func TestImportBoundaries(t *testing.T) {
	const mod = "github.com/raftkv/raftkv/"
	forbidden := []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt", mod + "store", mod + "raftnode", mod + "rpc", mod + "server", mod + "metrics"}
	for _, pkg := range []string{mod + "gateway", mod + "cmd/kvgateway"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range forbidden {
				if dep == bad || strings.HasPrefix(dep, bad+"/") {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
