package tlsconfig_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/tlsconfig"
	"github.com/raftkv/raftkv/tlsconfig/tlsconfigtest"
)

func TestInfo_Validate(t *testing.T) {
	for _, tc := range []struct {
		name string
		info tlsconfig.Info
		want string // "" means valid
	}{
		{"empty", tlsconfig.Info{}, ""},
		{"cert and key", tlsconfig.Info{CertFile: "c", KeyFile: "k"}, ""},
		{"cert without key", tlsconfig.Info{CertFile: "c"}, "needs its key file"},
		{"key without cert", tlsconfig.Info{KeyFile: "k"}, "needs its certificate"},
		{"client auth without CA", tlsconfig.Info{CertFile: "c", KeyFile: "k", ClientCertAuth: true}, "needs a trusted CA file"},
		{"client auth with CA", tlsconfig.Info{CertFile: "c", KeyFile: "k", TrustedCAFile: "ca", ClientCertAuth: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.info.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// handshake runs one TLS handshake over loopback TCP and returns the
// server's and the client's error. The server sends one byte after a good
// handshake: a TLS 1.3 client finishes its side before the server has
// checked the client certificate, and only a read shows the verdict.
func handshake(t *testing.T, srv, cli *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tl := tls.NewListener(ln, srv)
	done := make(chan error, 1) // size 1: the server goroutine never blocks
	go func() {
		c, err := tl.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte{1})
		done <- err
	}()
	cli = cli.Clone()
	cli.ServerName = "127.0.0.1"
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cli)
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	return <-done, err
}

func mustConfig(t *testing.T, build func() (*tls.Config, error)) *tls.Config {
	t.Helper()
	cfg, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPeerConfig_MutualAuth(t *testing.T) {
	pki := tlsconfigtest.New(t, "cluster CA")
	rogue := tlsconfigtest.New(t, "rogue CA")
	n1, n2 := pki.Issue("n1"), pki.Issue("n2")
	srv := mustConfig(t, n1.PeerConfig)

	if serr, cerr := handshake(t, srv, mustConfig(t, n2.PeerConfig)); serr != nil || cerr != nil {
		t.Fatalf("peer with a cluster certificate: server %v, client %v", serr, cerr)
	}
	// A client trusting the cluster CA but presenting no certificate.
	noCert := tlsconfig.Info{TrustedCAFile: pki.CAFile()}
	if serr, _ := handshake(t, srv, mustConfig(t, noCert.ClientConfig)); serr == nil {
		t.Fatal("server accepted a client without a certificate")
	}
	// A client trusting the cluster CA but with a certificate from another.
	other := rogue.Issue("n9")
	other.TrustedCAFile = pki.CAFile()
	if serr, _ := handshake(t, srv, mustConfig(t, other.ClientConfig)); serr == nil {
		t.Fatal("server accepted a client certificate from another CA")
	}
	// A dialer that trusts only the rogue CA refuses the cluster's server.
	if _, cerr := handshake(t, srv, mustConfig(t, rogue.Issue("n8").PeerConfig)); cerr == nil {
		t.Fatal("client accepted a server certificate from an untrusted CA")
	}
}

func TestServerConfig_NoClientAuth(t *testing.T) {
	pki := tlsconfigtest.New(t, "cluster CA")
	srvInfo := pki.Issue("n1")
	srvInfo.TrustedCAFile = "" // no client-cert-auth
	cli := tlsconfig.Info{TrustedCAFile: pki.CAFile()}
	if serr, cerr := handshake(t, mustConfig(t, srvInfo.ServerConfig), mustConfig(t, cli.ClientConfig)); serr != nil || cerr != nil {
		t.Fatalf("server %v, client %v", serr, cerr)
	}
}

func TestServerConfig_ReloadsRotatedCertificate(t *testing.T) {
	old := tlsconfigtest.New(t, "old CA")
	rotated := tlsconfigtest.New(t, "new CA")
	info := old.Issue("n1")
	srv := mustConfig(t, info.ServerConfig)
	trustNew := mustConfig(t, tlsconfig.Info{TrustedCAFile: rotated.CAFile()}.ClientConfig)
	if _, cerr := handshake(t, srv, trustNew); cerr == nil {
		t.Fatal("client trusting only the new CA accepted the old certificate")
	}
	// Rotate in place: the same file names get the new pair.
	fresh := rotated.Issue("n1-new")
	for src, dst := range map[string]string{fresh.CertFile: info.CertFile, fresh.KeyFile: info.KeyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if serr, cerr := handshake(t, srv, trustNew); serr != nil || cerr != nil {
		t.Fatalf("after rotation: server %v, client %v", serr, cerr)
	}
}

func TestConfig_FileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	if _, err := (tlsconfig.Info{CertFile: missing, KeyFile: missing}).ServerConfig(); err == nil {
		t.Fatal("ServerConfig with missing files succeeded")
	}
	if _, err := (tlsconfig.Info{TrustedCAFile: missing}).ClientConfig(); err == nil {
		t.Fatal("ClientConfig with a missing CA file succeeded")
	}
	if _, err := (tlsconfig.Info{}).ServerConfig(); err == nil {
		t.Fatal("ServerConfig without a certificate succeeded")
	}
}

func TestWriteDevCerts_Idempotent(t *testing.T) {
	dir := t.TempDir()
	wrote, err := tlsconfig.WriteDevCerts(dir, []string{"n1", "n2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrote) != 2+3*2 {
		t.Fatalf("wrote %d files, want 8: %v", len(wrote), wrote)
	}
	again, err := tlsconfig.WriteDevCerts(dir, []string{"n1", "n2", "n3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 2 {
		t.Fatalf("second run wrote %v, want only n3's two files", again)
	}
	ca := filepath.Join(dir, tlsconfig.DevCAFile)
	n3 := tlsconfig.Info{CertFile: filepath.Join(dir, "n3.pem"), KeyFile: filepath.Join(dir, "n3-key.pem"), TrustedCAFile: ca}
	cl := tlsconfig.Info{CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem"), TrustedCAFile: ca}
	if serr, cerr := handshake(t, mustConfig(t, n3.PeerConfig), mustConfig(t, cl.ClientConfig)); serr != nil || cerr != nil {
		t.Fatalf("certificates from two runs do not share a CA: server %v, client %v", serr, cerr)
	}
}
