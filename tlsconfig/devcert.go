package tlsconfig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Validity periods of development certificates.
const (
	devCAValidity   = 5 * 365 * 24 * time.Hour
	devLeafValidity = 365 * 24 * time.Hour
)

// CA is a certificate authority for development clusters and tests. Its
// key lives in memory and, once written, in a plain file: it is not fit to
// sign production certificates.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

// NewCA creates a self-signed CA with an ECDSA P-256 key.
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"raftkv development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(devCAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	return caFromDER(der, key)
}

// LoadCA reads a CA written by WriteFiles (or any PEM certificate and
// PKCS#8 or EC private key pair).
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("CA files %s and %s: no PEM block", certFile, keyFile)
	}
	key, err := parseKey(kb)
	if err != nil {
		return nil, fmt.Errorf("parse CA key: %w", err)
	}
	return caFromDER(cb.Bytes, key)
}

func caFromDER(der []byte, key crypto.Signer) (*CA, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("certificate is not a CA")
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func parseKey(b *pem.Block) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("key cannot sign")
	}
	return x509.ParseECPrivateKey(b.Bytes)
}

// CertPEM is the CA certificate, PEM-encoded: the trusted CA file.
func (ca *CA) CertPEM() []byte { return ca.pem }

// KeyPEM is the CA's private key, PEM-encoded (PKCS#8).
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("encode CA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Issue signs a certificate for commonName valid for both server and client
// authentication (a node uses one certificate to serve and to dial its
// peers). hosts become SANs: IP literals as IP SANs, anything else as DNS
// names. It returns the certificate and its new private key, PEM-encoded.
func (ca *CA) Issue(commonName string, hosts []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"raftkv development"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(devLeafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %s: %w", commonName, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// WriteFiles issues a certificate and writes it to dir as <name>.pem and
// <name>-key.pem (mode 0600 for the key) and returns the file names.
func (ca *CA) WriteFiles(dir, name string, hosts []string) (certFile, keyFile string, err error) {
	certPEM, keyPEM, err := ca.Issue(name, hosts)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write key: %w", err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("write certificate: %w", err)
	}
	return certFile, keyFile, nil
}

// DevCAFile and DevCAKeyFile are the names of the CA files in a development
// certificate directory.
const (
	DevCAFile    = "ca.pem"
	DevCAKeyFile = "ca-key.pem"
)

// WriteDevCerts fills dir with a development PKI: a CA (ca.pem,
// ca-key.pem), one certificate per node (<node>.pem, <node>-key.pem) whose
// SANs are 127.0.0.1, ::1, localhost, the node name and extraHosts, and a
// client certificate (client.pem, client-key.pem). Existing files are kept,
// so running it again only adds what is missing; an existing CA signs the
// new certificates. It returns the names of the files it wrote.
func WriteDevCerts(dir string, nodes, extraHosts []string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create certificate directory: %w", err)
	}
	var wrote []string
	caCert, caKey := filepath.Join(dir, DevCAFile), filepath.Join(dir, DevCAKeyFile)
	ca, err := LoadCA(caCert, caKey)
	if errors.Is(err, fs.ErrNotExist) {
		if ca, err = NewCA("raftkv development CA"); err != nil {
			return nil, err
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(caKey, keyPEM, 0o600); err != nil {
			return nil, fmt.Errorf("write CA key: %w", err)
		}
		if err := os.WriteFile(caCert, ca.CertPEM(), 0o644); err != nil {
			return nil, fmt.Errorf("write CA certificate: %w", err)
		}
		wrote = append(wrote, caCert, caKey)
	} else if err != nil {
		return nil, err
	}
	for _, name := range append(append([]string{}, nodes...), "client") {
		if _, err := os.Stat(filepath.Join(dir, name+".pem")); err == nil {
			continue
		}
		hosts := []string{"127.0.0.1", "::1", "localhost"}
		if name != "client" {
			hosts = append(append(hosts, name), extraHosts...)
		}
		c, k, err := ca.WriteFiles(dir, name, hosts)
		if err != nil {
			return wrote, err
		}
		wrote = append(wrote, c, k)
	}
	return wrote, nil
}

// serial returns a random 128-bit certificate serial number.
func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return n, nil
}
