package raftnode_test

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
	"github.com/raftkv/raftkv/tlsconfig"
	"github.com/raftkv/raftkv/tlsconfig/tlsconfigtest"
)

// withPeerTLS gives each node a peer certificate from pki, named after it,
// and timeouts that leave room for TLS handshakes under -race on a loaded
// machine (raftnodetest's 50ms lease is tight enough without them).
func withPeerTLS(t *testing.T, pki *tlsconfigtest.PKI) raftnodetest.Option {
	return func(cfg *raftnode.Config) {
		cfg.HeartbeatTimeout = 250 * time.Millisecond
		cfg.ElectionTimeout = 250 * time.Millisecond
		cfg.LeaderLeaseTimeout = 200 * time.Millisecond
		tc, err := pki.Issue(string(cfg.ID)).PeerConfig()
		if err != nil {
			t.Fatalf("peer TLS config for %s: %v", cfg.ID, err)
		}
		cfg.TLS = tc
	}
}

func TestNode_TLSTransportReplicates(t *testing.T) {
	c := raftnodetest.StartCluster(t, 3, withPeerTLS(t, tlsconfigtest.New(t, "cluster CA")))
	leader := c.Node(c.WaitLeader(waitTimeout))
	for i := range 5 {
		mustApply(t, leader, fmt.Sprintf("k%d", i), "v")
	}
	for _, m := range c.Members {
		waitKeys(t, m.SM, 5)
	}
}

// TestNode_TLSTransportRefusesForeignPeer starts a node whose peer
// certificate comes from another CA and which believes it belongs to the
// cluster, so it campaigns again and again at the real members. It trusts
// the cluster's CA (CA certificates are public), so it gets as far as a
// TLS connection. Mutual TLS must still keep every vote request out: the
// cluster's leader and term stay as they were.
func TestNode_TLSTransportRefusesForeignPeer(t *testing.T) {
	pki := tlsconfigtest.New(t, "cluster CA")
	c := raftnodetest.StartCluster(t, 3, withPeerTLS(t, pki))
	li := c.WaitLeader(waitTimeout)
	before := c.Node(li).Status()

	rogueAddr := raftnodetest.FreeAddrs(t, 1)[0]
	cfg := raftnodetest.Config(t, "rogue", rogueAddr, filepath.Join(t.TempDir(), "rogue"))
	cfg.Bootstrap = true
	cfg.InitialCluster = []raftnode.Server{{ID: "rogue", RaftAddr: rogueAddr}}
	for _, m := range c.Members {
		cfg.InitialCluster = append(cfg.InitialCluster, raftnode.Server{ID: m.Config.ID, RaftAddr: m.Node.RaftAddr()})
	}
	withPeerTLS(t, tlsconfigtest.New(t, "rogue CA"))(&cfg)
	clusterCA, err := tlsconfig.Info{TrustedCAFile: pki.CAFile()}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS.RootCAs = clusterCA.RootCAs
	var dials atomic.Int64 // connections to members whose server certificate verified
	cfg.TLS.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Subject.CommonName != "rogue" {
			dials.Add(1)
		}
		return nil
	}
	rogue, err := raftnode.New(cfg, raftnodetest.NewStateMachine())
	if err != nil {
		t.Fatalf("start rogue node: %v", err)
	}
	t.Cleanup(func() { _ = rogue.Close() })

	// Three elections' worth of vote requests to the three members.
	raftnodetest.WaitFor(t, waitTimeout, "the rogue node to campaign repeatedly", func() bool {
		return dials.Load() >= 9
	})
	for i := range c.Members {
		st := c.Node(i).Status()
		if st.Term != before.Term || st.LeaderID != before.ID {
			t.Errorf("%s: term %d leader %s, want term %d leader %s", st.ID, st.Term, st.LeaderID, before.Term, before.ID)
		}
	}
	if rogue.Status().LeaderID != "" {
		t.Errorf("rogue node found a leader: %s", rogue.Status().LeaderID)
	}
}

func TestConfig_TLSMustVerifyPeers(t *testing.T) {
	cfg := raftnodetest.Config(t, "n1", "127.0.0.1:0", t.TempDir())
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12} // no client certificate check
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate accepted a raft TLS config that does not verify peers")
	}
}
