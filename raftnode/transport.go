package raftnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// transportTimeout is the I/O deadline of a single raft RPC;
// InstallSnapshot scales it by size.
const transportTimeout = 10 * time.Second

// newTransport binds raft's network transport: plain TCP, or mutual TLS
// when cfg.TLS is set. With no advertise address the bound address is
// advertised, which makes port 0 usable.
func newTransport(cfg Config, hcl hclog.Logger) (*raft.NetworkTransport, error) {
	var advertise net.Addr
	if cfg.RaftAdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.RaftAdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("resolve raft advertise address: %w", err)
		}
		advertise = a
	}
	if cfg.TLS == nil {
		trans, err := raft.NewTCPTransportWithConfig(cfg.RaftBindAddr, advertise, &raft.NetworkTransportConfig{
			Logger:  hcl,
			MaxPool: 3,
			Timeout: transportTimeout,
		})
		if err != nil {
			return nil, fmt.Errorf("start raft transport on %s: %w", cfg.RaftBindAddr, err)
		}
		return trans, nil
	}
	stream, err := newTLSStreamLayer(cfg.RaftBindAddr, advertise, cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("start raft TLS transport on %s: %w", cfg.RaftBindAddr, err)
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		Logger:  hcl,
		MaxPool: 3,
		Timeout: transportTimeout,
	}), nil
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS. The listener
// requires every peer to present a certificate that verifies against the
// configuration's ClientCAs; Dial presents this node's certificate and
// verifies the peer's against RootCAs, for the IP it dials. A peer that
// fails either check never gets a single raft message through: raft sees a
// connection that fails on its first read or write.
type tlsStreamLayer struct {
	ln        net.Listener // the TLS listener
	advertise net.Addr
	cfg       *tls.Config
}

// Compile-time check that tlsStreamLayer is a raft stream layer.
var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

func newTLSStreamLayer(bind string, advertise net.Addr, cfg *tls.Config) (*tlsStreamLayer, error) {
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("raft TLS config must require and verify client certificates")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	// raft's TCP transport refuses to advertise an unspecified address;
	// Config.Validate has already ensured this, but fail closed anyway.
	if a, ok := advertise.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("raft advertise address %v is not dialable", advertise)
	}
	return &tlsStreamLayer{ln: tls.NewListener(ln, cfg), advertise: advertise, cfg: cfg}, nil
}

// Accept returns the next incoming connection. The TLS handshake runs on
// the connection's first read, in raft's per-connection goroutine, so a slow
// or hostile peer cannot stall the accept loop.
func (l *tlsStreamLayer) Accept() (net.Conn, error) { return l.ln.Accept() }

// Close stops the listener.
func (l *tlsStreamLayer) Close() error { return l.ln.Close() }

// Addr is the advertised raft address.
func (l *tlsStreamLayer) Addr() net.Addr { return l.advertise }

// Dial connects to a peer and completes the handshake within timeout.
func (l *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return dialPeerTLS(l.cfg, string(address), timeout)
}

// dialPeerTLS connects to the raft address of a peer over TLS, presenting
// cfg's certificate and verifying the peer's against cfg's RootCAs for the
// address's host, and completes the handshake within timeout.
func dialPeerTLS(cfg *tls.Config, address string, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("raft peer address %q: %w", address, err)
	}
	cfg = cfg.Clone()
	cfg.ServerName = host // raft addresses are IPs: the peer needs an IP SAN
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	// tls.Dialer applies the net.Dialer timeout to the handshake as well.
	conn, err := d.Dial("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	return conn, nil
}

// verifyPeerTimeout bounds verifyPeer's handshake when ctx has no earlier
// deadline.
const verifyPeerTimeout = 5 * time.Second

// verifyPeer checks, before a node is added to the configuration, that the
// raft address it gave presents a peer certificate this cluster trusts:
// with peer TLS it completes a TLS handshake with it. Without the check a
// client allowed to call Join could add a voter that counts towards the
// quorum but whose raft traffic every member refuses, taking away one
// failure the cluster could otherwise survive. Without peer TLS there is
// nothing to verify.
func (n *Node) verifyPeer(ctx context.Context, raftAddr string) error {
	if n.cfg.TLS == nil {
		return nil
	}
	timeout := verifyPeerTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	conn, err := dialPeerTLS(n.cfg.TLS, raftAddr, timeout)
	if err != nil {
		return fmt.Errorf("%w: the node at raft address %s did not present a peer certificate this cluster trusts "+
			"(issue it from the cluster's peer CA with an IP SAN for that address): %w", ErrMembershipRefused, raftAddr, err)
	}
	return conn.Close() // raft's listener sees EOF before any command and drops it quietly
}
