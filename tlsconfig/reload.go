package tlsconfig

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// keyPair serves a certificate and key from disk, reloading them when
// either file's size or modification time changes. A reload that fails
// (for example, the certificate was replaced but the key not yet) keeps
// the previous pair in use and is tried again at the next handshake, so a
// rotation done file by file never takes the endpoint down.
type keyPair struct {
	certFile, keyFile string

	mu       sync.Mutex // guards the fields below
	cert     *tls.Certificate
	certStat fileStamp
	keyStat  fileStamp
}

// fileStamp identifies one version of a file.
type fileStamp struct {
	size    int64
	modTime time.Time
}

func stamp(file string) (fileStamp, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), modTime: fi.ModTime()}, nil
}

// newKeyPair loads the pair once; an error here is a configuration error.
func newKeyPair(certFile, keyFile string) (*keyPair, error) {
	kp := &keyPair{certFile: certFile, keyFile: keyFile}
	if err := kp.reload(); err != nil {
		return nil, err
	}
	return kp, nil
}

// reload loads the pair if the files changed since the last load.
func (kp *keyPair) reload() error {
	cs, err := stamp(kp.certFile)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	ks, err := stamp(kp.keyFile)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if kp.cert != nil && cs == kp.certStat && ks == kp.keyStat {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(kp.certFile, kp.keyFile)
	if err != nil {
		return fmt.Errorf("load certificate %s and key %s: %w", kp.certFile, kp.keyFile, err)
	}
	kp.cert, kp.certStat, kp.keyStat = &cert, cs, ks
	return nil
}

// current returns the newest pair that loaded.
func (kp *keyPair) current() *tls.Certificate {
	_ = kp.reload() // on failure the previous pair stays; see keyPair
	kp.mu.Lock()
	defer kp.mu.Unlock()
	return kp.cert
}

func (kp *keyPair) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return kp.current(), nil
}

func (kp *keyPair) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return kp.current(), nil
}
