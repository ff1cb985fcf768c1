// Package tlsconfigtest creates throwaway certificate authorities and
// certificates in a test's temporary directory.
package tlsconfigtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/tlsconfig"
)

// PKI is one certificate authority whose files live in a test's temporary
// directory. Certificates it issues are valid for 127.0.0.1, ::1 and
// localhost, for both server and client authentication.
type PKI struct {
	t   testing.TB
	ca  *tlsconfig.CA
	dir string
}

// New creates a CA named name; its files are removed when the test ends.
func New(t testing.TB, name string) *PKI {
	t.Helper()
	ca, err := tlsconfig.NewCA(name)
	if err != nil {
		t.Fatalf("new CA: %v", err)
	}
	p := &PKI{t: t, ca: ca, dir: t.TempDir()}
	if err := os.WriteFile(p.CAFile(), ca.CertPEM(), 0o644); err != nil {
		t.Fatalf("write CA: %v", err)
	}
	return p
}

// CAFile is the CA certificate's PEM file, to use as a trusted CA file.
func (p *PKI) CAFile() string { return filepath.Join(p.dir, tlsconfig.DevCAFile) }

// Issue writes a certificate and key for name and returns them, with this
// CA as the trusted CA, as a tlsconfig.Info.
func (p *PKI) Issue(name string) tlsconfig.Info {
	p.t.Helper()
	cert, key, err := p.ca.WriteFiles(p.dir, name, []string{"127.0.0.1", "::1", "localhost", name})
	if err != nil {
		p.t.Fatalf("issue %s: %v", name, err)
	}
	return tlsconfig.Info{CertFile: cert, KeyFile: key, TrustedCAFile: p.CAFile()}
}
