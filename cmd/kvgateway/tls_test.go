package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
	"github.com/raftkv/raftkv/tlsconfig/tlsconfigtest"
)

// TestRun_UpstreamTLS runs kvgateway against an in-process cluster that
// requires client certificates: with --cacert/--cert/--key it writes, and
// the TLS flags are checked like kvctl's.
func TestRun_UpstreamTLS(t *testing.T) {
	pki := tlsconfigtest.New(t, "cluster CA")
	c := servertest.StartCluster(t, 3, func(cfg *server.Config) {
		info := pki.Issue(cfg.NodeID)
		cfg.ClientTLS, cfg.PeerTLS = info, info
		cfg.ClientTLS.ClientCertAuth = true
	})
	cl := pki.Issue("gateway")
	g := startRun(t, c.Endpoints(), "--insecure-no-auth", "--cacert", cl.TrustedCAFile, "--cert", cl.CertFile, "--key", cl.KeyFile)
	if r := g.do(t, "PUT", "/v1/kv/k", "", strings.NewReader("v")); r.StatusCode != 200 {
		body, _ := io.ReadAll(r.Body)
		t.Fatalf("PUT through a TLS upstream = %d: %s", r.StatusCode, body)
	}
	servertest.WaitFor(t, 10*time.Second, "the key on the leader", func() bool {
		_, err := c.Node(c.Leader(10 * time.Second)).Store().Get([]byte("k"))
		return err == nil
	})

	for name, args := range map[string][]string{
		"CertWithoutKey": {"--insecure-no-auth", "--cert", cl.CertFile},
		"MissingCA":      {"--insecure-no-auth", "--cacert", cl.TrustedCAFile + ".missing"},
	} {
		if _, err := parseFlags(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%s: parseFlags = %v, want a usage error", name, err)
		}
	}
}
