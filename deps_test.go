package raftkv_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundaries enforces the dependency arrows of STYLE.md §3.1: the
// state machine knows nothing of raft or gRPC, consensus knows nothing of
// the API or storage, and the client never pulls in server code.
func TestImportBoundaries(t *testing.T) {
	const mod = "github.com/raftkv/raftkv/"
	// direct rules check only the package's own imports: rpc may depend on
	// raftnode, which uses raft, but must not import raft itself.
	rules := []struct {
		pkg       string
		direct    bool
		forbidden []string
	}{
		{"store", false, []string{"github.com/hashicorp/raft", "google.golang.org/grpc", mod + "raftnode", mod + "rpc", mod + "proto/kvpb", mod + "client"}},
		{"raftnode", false, []string{"google.golang.org/grpc", mod + "store", mod + "rpc", mod + "proto", mod + "client"}},
		{"autopilot", true, []string{"github.com/hashicorp/raft", "google.golang.org/grpc", mod + "store", mod + "rpc", mod + "proto", mod + "client", mod + "server"}},
		{"rpc", true, []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt", mod + "client"}},
		{"client", false, []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt", mod + "store", mod + "raftnode", mod + "rpc", mod + "server", mod + "proto/fsmpb"}},
		{"gateway", false, []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt", mod + "store", mod + "raftnode", mod + "rpc", mod + "server"}},
		{"tlsconfig", false, []string{"github.com/hashicorp/raft", "google.golang.org/grpc", "go.etcd.io/bbolt", mod + "store", mod + "raftnode", mod + "rpc", mod + "server", mod + "client", mod + "proto"}},
		{"auth", false, []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt", "google.golang.org/grpc", mod + "store", mod + "raftnode", mod + "rpc", mod + "server", mod + "client", mod + "gateway", mod + "proto"}},
		{"cmd/kvctl", false, []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt", mod + "store", mod + "raftnode", mod + "rpc", mod + "server"}},
	}
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			args := []string{"list", "-deps", mod + r.pkg}
			if r.direct {
				args = []string{"list", "-f", `{{join .Imports "\n"}}`, mod + r.pkg}
			}
			out, err := exec.Command("go", args...).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", r.pkg, err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, bad := range r.forbidden {
					if dep == bad || strings.HasPrefix(dep, bad+"/") {
						t.Errorf("%s imports %s (forbidden: %s)", r.pkg, dep, bad)
					}
				}
			}
		})
	}
}
