package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/raftkv/raftkv/tlsconfig"
)

// tlsSetup is the node's TLS, built from Config's files at Start. Nil
// fields mean plaintext.
type tlsSetup struct {
	// grpcServer secures the client gRPC listener.
	grpcServer *tls.Config
	// peerDial is used to call other members' client ports (forwarding,
	// joining, the status page).
	peerDial *tls.Config
	// raft secures raft traffic with mutual TLS.
	raft *tls.Config
}

// validateTLS reports inconsistent TLS settings in terms of Config fields.
func (c Config) validateTLS() []error {
	var errs []error
	if err := c.ClientTLS.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("client TLS: %w", err))
	}
	if c.ClientTLS.CertFile == "" && (c.ClientTLS.TrustedCAFile != "" || c.ClientTLS.ClientCertAuth) {
		errs = append(errs, errors.New("client TLS: a trusted CA file or client certificate authentication needs a server certificate and key"))
	}
	p := c.PeerTLS
	if !p.Empty() && (p.CertFile == "" || p.KeyFile == "" || p.TrustedCAFile == "") {
		errs = append(errs, errors.New("peer TLS: needs a certificate, its key and a trusted CA file (peer traffic is always mutually authenticated)"))
	}
	return errs
}

// buildTLS loads the certificate files; a missing or unreadable file fails
// the start.
func (c Config) buildTLS() (tlsSetup, error) {
	var ts tlsSetup
	var err error
	if c.ClientTLS.CertFile != "" {
		if ts.grpcServer, err = c.ClientTLS.ServerConfig(); err != nil {
			return ts, fmt.Errorf("client TLS: %w", err)
		}
		// Members verify each other's client ports against the trusted CA
		// (the system roots when none is set) and always present their
		// certificate: it is needed when peers require client certificates
		// and ignored otherwise.
		dial := tlsconfig.Info{CertFile: c.ClientTLS.CertFile, KeyFile: c.ClientTLS.KeyFile, TrustedCAFile: c.ClientTLS.TrustedCAFile}
		if ts.peerDial, err = dial.ClientConfig(); err != nil {
			return ts, fmt.Errorf("client TLS: %w", err)
		}
	}
	if !c.PeerTLS.Empty() {
		if ts.raft, err = c.PeerTLS.PeerConfig(); err != nil {
			return ts, fmt.Errorf("peer TLS: %w", err)
		}
	}
	return ts, nil
}

// serverOptions returns the gRPC server options for the listener's TLS.
func (ts tlsSetup) serverOptions() []grpc.ServerOption {
	if ts.grpcServer == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(ts.grpcServer))}
}

// warnPlaintext logs one loud line naming the traffic that is not
// encrypted, or nothing when all of it is.
func (ts tlsSetup) warnPlaintext(log *slog.Logger, clientCertAuth bool) {
	var plain []string
	if ts.grpcServer == nil {
		plain = append(plain, "client gRPC (--cert-file/--key-file)")
	}
	if ts.raft == nil {
		plain = append(plain, "raft peer traffic (--peer-cert-file/--peer-key-file/--peer-trusted-ca-file)")
	}
	if len(plain) > 0 {
		log.Warn("TLS IS OFF: " + strings.Join(plain, " and ") +
			" is UNENCRYPTED and UNAUTHENTICATED; anyone who can reach these ports can read and change every key and disrupt the cluster. Use only for local development.")
		return
	}
	if !clientCertAuth {
		log.Info("TLS on for clients and peers; clients are not authenticated (no --client-cert-auth)")
	}
}
