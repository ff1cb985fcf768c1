package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/raftnode/raftnodetest"
	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/server/servertest"
	"github.com/raftkv/raftkv/store"
	"github.com/raftkv/raftkv/tlsconfig"
	"github.com/raftkv/raftkv/tlsconfig/tlsconfigtest"
)

// withTLS secures a node with certificates from pki: TLS with client
// certificate authentication on the client port, mutual TLS for raft.
func withTLS(pki *tlsconfigtest.PKI) func(*server.Config) {
	return func(cfg *server.Config) {
		info := pki.Issue(cfg.NodeID)
		cfg.PeerTLS = info
		cfg.ClientTLS = info
		cfg.ClientTLS.ClientCertAuth = true
	}
}

func tlsClientConfig(t *testing.T, info tlsconfig.Info) *tls.Config {
	t.Helper()
	cfg, err := info.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// rawConn dials one node's client port directly, without the client's
// leader-following, so that a test controls which node serves a call.
func rawConn(t *testing.T, addr string, creds credentials.TransportCredentials) kvpb.KVClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return kvpb.NewKVClient(cc)
}

func TestCluster_TLSReplicatesAndForwards(t *testing.T) {
	pki := tlsconfigtest.New(t, "cluster CA")
	c := servertest.StartCluster(t, 3, withTLS(pki))
	li := c.Leader(leaderWait)
	clientTLS := tlsClientConfig(t, pki.Issue("client"))

	cl, err := client.New(client.Config{Endpoints: c.Endpoints(), DialTimeout: time.Second, TLS: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	ctx := ctxTimeout(t, 15*time.Second)
	if _, err := cl.Put(ctx, "via-client", []byte("1")); err != nil {
		t.Fatalf("put through the client: %v", err)
	}
	// A follower forwards a write to the leader over the TLS client port,
	// presenting its own certificate.
	fi := (li + 1) % c.Size()
	follower := rawConn(t, c.Endpoints()[fi], credentials.NewTLS(clientTLS))
	if _, err := follower.Put(ctx, &kvpb.PutRequest{Key: []byte("via-follower"), Value: []byte("2")}); err != nil {
		t.Fatalf("put on follower %d: %v", fi, err)
	}
	waitConverged(t, c, map[string]string{"via-client": "1", "via-follower": "2"})
}

func TestCluster_TLSRefusesUnauthenticatedClients(t *testing.T) {
	pki := tlsconfigtest.New(t, "cluster CA")
	rogue := tlsconfigtest.New(t, "rogue CA")
	c := servertest.StartCluster(t, 3, withTLS(pki))
	li := c.Leader(leaderWait)
	leader := c.Node(li)

	foreign := rogue.Issue("client")
	foreign.TrustedCAFile = pki.CAFile() // it trusts the cluster, which does not trust it
	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
	}{
		{"no certificate", credentials.NewTLS(tlsClientConfig(t, tlsconfig.Info{TrustedCAFile: pki.CAFile()}))},
		{"certificate from another CA", credentials.NewTLS(tlsClientConfig(t, foreign))},
		{"plaintext", insecure.NewCredentials()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := leader.Node().AppliedIndex()
			kv := rawConn(t, leader.GRPCAddr(), tc.creds)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, err := kv.Put(ctx, &kvpb.PutRequest{Key: []byte("intruder"), Value: []byte("x")})
			if code := status.Code(err); code != codes.Unavailable {
				t.Fatalf("put: %v (code %v), want Unavailable", err, code)
			}
			if after := leader.Node().AppliedIndex(); after != before {
				t.Errorf("applied index moved %d -> %d", before, after)
			}
			for i := range c.Size() {
				if _, err := c.Node(i).Store().Get([]byte("intruder")); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("node %d: intruder key: %v, want not found", i, err)
				}
			}
		})
	}

	// The Go client reports the refusal as an error, too.
	cl, err := client.New(client.Config{Endpoints: c.Endpoints(), DialTimeout: time.Second,
		TLS: tlsClientConfig(t, tlsconfig.Info{TrustedCAFile: pki.CAFile()})})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Put(ctxTimeout(t, 3*time.Second), "intruder", []byte("x")); err == nil {
		t.Fatal("client without a certificate could write")
	}
}

// countingHandler counts the log records that match, then passes them on.
type countingHandler struct {
	slog.Handler
	match func(slog.Record) bool
	n     *atomic.Int64
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.match(r) {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{h.Handler.WithAttrs(as), h.match, h.n}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{h.Handler.WithGroup(name), h.match, h.n}
}

// errContains matches records whose message is msg and whose err attribute
// contains substr.
func errContains(msg, substr string) func(slog.Record) bool {
	return func(r slog.Record) bool {
		if r.Message != msg {
			return false
		}
		found := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" && strings.Contains(a.Value.String(), substr) {
				found = true
			}
			return !found
		})
		return found
	}
}

// TestCluster_TLSRefusesForeignNodes starts two nodes whose certificates
// (client and peer) come from another CA but which trust the cluster's CA,
// as an attacker who copied the public CA certificate would: one asks to
// join through every member, the other believes it is a voter of the
// cluster and campaigns at the members' raft ports. Neither may change the
// membership, the leader or the term.
func TestCluster_TLSRefusesForeignNodes(t *testing.T) {
	pki := tlsconfigtest.New(t, "cluster CA")
	rogueCA := tlsconfigtest.New(t, "rogue CA")
	var refusedRaft atomic.Int64 // raft connections the members refused
	c := servertest.StartCluster(t, 3, func(cfg *server.Config) {
		withTLS(pki)(cfg)
		cfg.Logger = slog.New(countingHandler{cfg.Logger.Handler(),
			errContains("failed to decode incoming command", "certificate"), &refusedRaft})
	})
	li := c.Leader(leaderWait)
	before := c.Node(li).Node().Status()
	ctx := ctxTimeout(t, 20*time.Second)
	membersBefore, err := c.Node(li).Node().Members(ctx)
	if err != nil {
		t.Fatal(err)
	}

	rogueConfig := func(id string) server.Config {
		addrs := servertest.FreeAddrs(t, 2)
		cfg := server.DefaultConfig()
		cfg.NodeID, cfg.DataDir, cfg.GRPCAddr = id, filepath.Join(t.TempDir(), id), addrs[0]
		cfg.Raft = servertest.FastRaft()
		cfg.Raft.RaftBindAddr = addrs[1]
		info := rogueCA.Issue(id)
		info.TrustedCAFile = pki.CAFile()
		cfg.ClientTLS, cfg.PeerTLS = info, info
		cfg.Logger = raftnodetest.LoggerAt(t, slog.LevelDebug).With("node", id)
		return cfg
	}
	var joinRefused atomic.Int64 // the joiner's failed attempts
	joiner := rogueConfig("rogue-joiner")
	joiner.JoinAddrs = c.Endpoints()
	joiner.Logger = slog.New(countingHandler{joiner.Logger.Handler(),
		errContains("self-registration pending", "Unavailable"), &joinRefused})
	campaigner := rogueConfig("rogue-voter")
	campaigner.Raft.Bootstrap = true
	campaigner.Raft.InitialCluster = []raftnode.Server{{ID: "rogue-voter", RaftAddr: campaigner.Raft.RaftBindAddr}}
	for _, m := range membersBefore {
		campaigner.Raft.InitialCluster = append(campaigner.Raft.InitialCluster, raftnode.Server{ID: m.ID, RaftAddr: m.RaftAddr})
	}
	for _, cfg := range []server.Config{joiner, campaigner} {
		s, err := server.Start(cfg)
		if err != nil {
			t.Fatalf("start %s: %v", cfg.NodeID, err)
		}
		t.Cleanup(func() { _ = s.Close() })
	}

	servertest.WaitFor(t, 15*time.Second, "repeated refused join and raft attempts", func() bool {
		return joinRefused.Load() >= 5 && refusedRaft.Load() >= 6
	})
	for i := range c.Size() {
		st := c.Node(i).Node().Status()
		if st.Term != before.Term || st.LeaderID != before.ID {
			t.Errorf("%s: term %d leader %s, want term %d leader %s", st.ID, st.Term, st.LeaderID, before.Term, before.ID)
		}
	}
	membersAfter, err := c.Node(li).Node().Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(membersAfter) != len(membersBefore) {
		t.Fatalf("membership changed: %v -> %v", membersBefore, membersAfter)
	}
}

// peerListener serves TLS with info's certificate on a free loopback port,
// completing each handshake and hanging up, as a node's raft port would
// for a connection that sends nothing. It returns the address.
func peerListener(t *testing.T, info tlsconfig.Info) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(info.CertFile, info.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", servertest.FreeAddrs(t, 1)[0], &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	return ln.Addr().String()
}

// TestCluster_TLSJoinNeedsTrustedPeerCert: a caller with a valid client
// certificate asks to add a node whose raft port presents a peer
// certificate from another CA. Added, it would count towards the quorum
// while every member refused its raft traffic; the leader checks the
// certificate first, refuses with MEMBERSHIP_REFUSED and changes nothing.
// A node whose raft port presents the cluster's certificate is added.
func TestCluster_TLSJoinNeedsTrustedPeerCert(t *testing.T) {
	pki := tlsconfigtest.New(t, "cluster CA")
	rogueCA := tlsconfigtest.New(t, "rogue CA")
	c := servertest.StartCluster(t, 3, withTLS(pki))
	li := c.Leader(leaderWait)
	ctx := ctxTimeout(t, 20*time.Second)
	before, err := c.Node(li).Node().Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(c.Endpoints()[li], grpc.WithTransportCredentials(credentials.NewTLS(tlsClientConfig(t, pki.Issue("operator")))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	cluster := kvpb.NewClusterClient(cc)

	for _, voter := range []bool{true, false} {
		rogueAddr := peerListener(t, rogueCA.Issue("rogue"))
		_, err := cluster.Join(ctx, &kvpb.JoinRequest{Id: "rogue", RaftAddr: rogueAddr, GrpcAddr: "127.0.0.1:1", Nonvoter: !voter})
		if r, _ := reasonOf(err); status.Code(err) != codes.FailedPrecondition || r != "MEMBERSHIP_REFUSED" ||
			!strings.Contains(err.Error(), "peer certificate") {
			t.Fatalf("join (voter %v) with a foreign peer certificate = %v; want FailedPrecondition/MEMBERSHIP_REFUSED naming the certificate", voter, err)
		}
	}
	after, err := c.Node(li).Node().Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("members changed from %v to %v", before, after)
	}

	goodAddr := peerListener(t, pki.Issue("replica"))
	if _, err := cluster.Join(ctx, &kvpb.JoinRequest{Id: "replica", RaftAddr: goodAddr, GrpcAddr: "127.0.0.1:1", Nonvoter: true}); err != nil {
		t.Fatalf("join with the cluster's peer certificate: %v", err)
	}
	after, err = c.Node(li).Node().Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Fatalf("members after a trusted join = %v, want one more than %v", after, before)
	}
}
