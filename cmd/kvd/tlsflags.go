package main

import (
	"errors"
	"flag"

	"github.com/raftkv/raftkv/server"
)

// addTLSFlags registers the TLS flags, with etcd's names, on fs.
func addTLSFlags(fs *flag.FlagSet, cfg *server.Config) {
	fs.StringVar(&cfg.ClientTLS.CertFile, "cert-file", "", "client gRPC: server certificate (PEM); enables TLS on --grpc-addr")
	fs.StringVar(&cfg.ClientTLS.KeyFile, "key-file", "", "client gRPC: private key of --cert-file (PEM)")
	fs.StringVar(&cfg.ClientTLS.TrustedCAFile, "trusted-ca-file", "", "client gRPC: CA bundle that verifies client certificates and other members' client ports")
	fs.BoolVar(&cfg.ClientTLS.ClientCertAuth, "client-cert-auth", false, "client gRPC: require client certificates signed by --trusted-ca-file")
	fs.StringVar(&cfg.PeerTLS.CertFile, "peer-cert-file", "", "raft: this node's peer certificate (PEM); enables mutual TLS between members")
	fs.StringVar(&cfg.PeerTLS.KeyFile, "peer-key-file", "", "raft: private key of --peer-cert-file (PEM)")
	fs.StringVar(&cfg.PeerTLS.TrustedCAFile, "peer-trusted-ca-file", "", "raft: CA bundle that every peer certificate must verify against")
}

// checkTLSFlags reports inconsistent TLS flags in terms of the flags, before
// server.Config.Validate would report them in terms of its fields.
func checkTLSFlags(cfg server.Config) error {
	var errs []error
	c := cfg.ClientTLS
	if c.CertFile != "" && c.KeyFile == "" {
		errs = append(errs, errors.New("--cert-file needs --key-file"))
	}
	if c.KeyFile != "" && c.CertFile == "" {
		errs = append(errs, errors.New("--key-file needs --cert-file"))
	}
	if c.ClientCertAuth && c.TrustedCAFile == "" {
		errs = append(errs, errors.New("--client-cert-auth needs --trusted-ca-file (the CA that signs client certificates)"))
	}
	if (c.ClientCertAuth || c.TrustedCAFile != "") && c.CertFile == "" {
		errs = append(errs, errors.New("--client-cert-auth and --trusted-ca-file need --cert-file and --key-file (TLS on the client port)"))
	}
	p := cfg.PeerTLS
	if !p.Empty() && (p.CertFile == "" || p.KeyFile == "" || p.TrustedCAFile == "") {
		errs = append(errs, errors.New("--peer-cert-file, --peer-key-file and --peer-trusted-ca-file go together: peer traffic is always mutually authenticated"))
	}
	return errors.Join(errs...)
}
