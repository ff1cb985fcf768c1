//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2E_TLS starts real kvd processes with certificates from
// scripts/gen-certs.sh (TLS with client certificate authentication on the
// gRPC ports, mutual TLS for raft) and drives kvctl: with --cacert, --cert
// and --key it reads and writes; without a client certificate, or without
// TLS at all, it is refused and writes nothing.
func TestE2E_TLS(t *testing.T) {
	certDir := filepath.Join(t.TempDir(), "certs")
	gen := exec.Command(filepath.Join(repoRoot(), "scripts", "gen-certs.sh"), certDir)
	gen.Env = append(os.Environ(), "BIN_DIR="+binDir)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gen-certs.sh: %v\n%s", err, out)
	}
	c := startCluster(t, "TLS=1", "CERT_DIR="+certDir)
	leader := c.leader(30 * time.Second)

	tlsArgs := []string{"--cacert", filepath.Join(certDir, "ca.pem"),
		"--cert", filepath.Join(certDir, "client.pem"), "--key", filepath.Join(certDir, "client-key.pem")}
	run := func(args ...string) (string, string, int) {
		t.Helper()
		return c.kvctl(append([]string{"--command-timeout", "3s"}, args...)...)
	}
	if out, errOut, code := run(append(tlsArgs, "put", "secure", "yes")...); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("put with certificates: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := run(append(tlsArgs, "get", "secure")...); code != 0 || !strings.Contains(out, "yes") {
		t.Fatalf("get with certificates: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := run(append(tlsArgs, "-w", "table", "cluster", "status")...); code != 0 || !strings.Contains(out, leader) {
		t.Fatalf("cluster status with certificates: exit %d\n%s%s", code, out, errOut)
	}

	refused := map[string][]string{
		"plaintext":        nil,
		"CA only, no cert": {"--cacert", filepath.Join(certDir, "ca.pem")},
	}
	for name, extra := range refused {
		if out, errOut, code := run(append(extra, "put", "intruder", name)...); code == 0 {
			t.Errorf("%s: put succeeded\n%s%s", name, out, errOut)
		}
	}
	if out, errOut, code := run(append(tlsArgs, "get", "intruder")...); code != 3 {
		t.Fatalf("intruder key: exit %d, want 3 (not found)\n%s%s", code, out, errOut)
	}

	// Every node announced TLS and none warned about plaintext.
	for _, n := range []string{"n1", "n2", "n3"} {
		b, err := os.ReadFile(filepath.Join(c.dir, n+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "TLS IS OFF") || !strings.Contains(string(b), "peer_tls=true") {
			t.Errorf("%s log does not show TLS on for clients and peers", n)
		}
	}
}
