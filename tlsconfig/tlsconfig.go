package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// MinVersion is the oldest protocol version any raftkv endpoint accepts.
const MinVersion = tls.VersionTLS12

// Info names the PEM files of one TLS endpoint, in etcd's TLSInfo shape.
// The zero value means "no TLS".
type Info struct {
	// CertFile is the certificate chain this side presents: the server
	// certificate for a listener, the client certificate for a dialer
	// (optional there). Needs KeyFile.
	CertFile string
	// KeyFile is the private key of CertFile. Needs CertFile.
	KeyFile string
	// TrustedCAFile is a PEM bundle of CA certificates. A listener verifies
	// client certificates against it (with ClientCertAuth); a dialer
	// verifies the server against it, or against the system roots when it
	// is empty.
	TrustedCAFile string
	// ClientCertAuth makes a listener require a client certificate signed
	// by TrustedCAFile. It needs TrustedCAFile.
	ClientCertAuth bool
}

// Empty reports whether i names no file and asks for nothing: plaintext.
func (i Info) Empty() bool {
	return i == Info{}
}

// Validate reports an inconsistent combination, naming files by field.
// Whether the files exist and parse is checked when a config is built.
func (i Info) Validate() error {
	var errs []error
	if i.CertFile != "" && i.KeyFile == "" {
		errs = append(errs, errors.New("a certificate needs its key file"))
	}
	if i.KeyFile != "" && i.CertFile == "" {
		errs = append(errs, errors.New("a key file needs its certificate"))
	}
	if i.ClientCertAuth && i.TrustedCAFile == "" {
		errs = append(errs, errors.New("client certificate authentication needs a trusted CA file"))
	}
	return errors.Join(errs...)
}

// ServerConfig returns the configuration of a TLS listener presenting
// CertFile, which is required. With ClientCertAuth every client must present
// a certificate signed by TrustedCAFile; without it client certificates are
// neither requested nor checked.
func (i Info) ServerConfig() (*tls.Config, error) {
	if err := i.Validate(); err != nil {
		return nil, err
	}
	if i.CertFile == "" {
		return nil, errors.New("a TLS listener needs a certificate and key")
	}
	kp, err := newKeyPair(i.CertFile, i.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: MinVersion, GetCertificate: kp.getCertificate}
	if i.ClientCertAuth {
		pool, err := loadPool(i.TrustedCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig returns the configuration of a TLS dialer. It verifies the
// server against TrustedCAFile (the system roots when empty) and presents
// CertFile when one is set. The server name is left empty: gRPC and the raft
// transport fill it in from the address dialled, which must match one of the
// server certificate's SANs (an IP SAN for an IP address).
func (i Info) ClientConfig() (*tls.Config, error) {
	if err := i.Validate(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: MinVersion}
	if i.TrustedCAFile != "" {
		pool, err := loadPool(i.TrustedCAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if i.CertFile != "" {
		kp, err := newKeyPair(i.CertFile, i.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = kp.getClientCertificate
	}
	return cfg, nil
}

// PeerConfig returns one configuration for both ends of a mutually
// authenticated link, as between raft peers: the listener side presents
// CertFile and requires a client certificate signed by TrustedCAFile, and
// the dialer side presents CertFile and verifies the server against
// TrustedCAFile. All three files are required; ClientCertAuth is implied.
func (i Info) PeerConfig() (*tls.Config, error) {
	if i.CertFile == "" || i.KeyFile == "" || i.TrustedCAFile == "" {
		return nil, errors.New("peer TLS needs a certificate, its key and a trusted CA file")
	}
	i.ClientCertAuth = true
	srv, err := i.ServerConfig()
	if err != nil {
		return nil, err
	}
	cli, err := i.ClientConfig()
	if err != nil {
		return nil, err
	}
	srv.RootCAs = cli.RootCAs
	srv.GetClientCertificate = cli.GetClientCertificate
	return srv, nil
}

// loadPool reads a PEM bundle of CA certificates.
func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read trusted CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("trusted CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}
