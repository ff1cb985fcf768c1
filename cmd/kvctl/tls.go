package main

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/tlsconfig"
)

// tlsFlags are the global TLS flags, with etcdctl's names.
type tlsFlags struct {
	cacert, cert, key string
}

// register adds the flags to root's persistent flags.
func (f *tlsFlags) register(root *cobra.Command) {
	fs := root.PersistentFlags()
	fs.StringVar(&f.cacert, "cacert", "", "verify the members' certificates with this CA bundle (PEM); enables TLS")
	fs.StringVar(&f.cert, "cert", "", "client certificate (PEM) for clusters that require one; enables TLS; needs --key")
	fs.StringVar(&f.key, "key", "", "private key of --cert (PEM)")
}

// info turns the flags into a tlsconfig.Info; ok is false when none is set
// (plaintext).
func (f *tlsFlags) info() (info tlsconfig.Info, ok bool, err error) {
	if f.cert != "" && f.key == "" {
		return info, false, usageError{errors.New("--cert needs --key")}
	}
	if f.key != "" && f.cert == "" {
		return info, false, usageError{errors.New("--key needs --cert")}
	}
	info = tlsconfig.Info{CertFile: f.cert, KeyFile: f.key, TrustedCAFile: f.cacert}
	return info, !info.Empty(), nil
}

// config builds the client's TLS configuration, or nil for plaintext.
func (f *tlsFlags) config() (*tls.Config, error) {
	info, ok, err := f.info()
	if err != nil || !ok {
		return nil, err
	}
	cfg, err := info.ClientConfig()
	if err != nil {
		return nil, usageError{fmt.Errorf("--cacert/--cert/--key: %w", err)}
	}
	return cfg, nil
}
