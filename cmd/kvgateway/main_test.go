package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/server/servertest"
)

const (
	tok1 = "first-token-0123456789abcdef"
	tok2 = "second-token-0123456789abcdef"
)

// syncBuffer is a log sink safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runningGateway is a run() in progress.
type runningGateway struct {
	url    string
	http   *http.Client
	stop   context.CancelFunc
	done   chan error
	reload chan os.Signal
	logs   *syncBuffer
}

// startRun runs the command in-process with args plus a free listen address
// and the cluster's endpoints.
func startRun(t *testing.T, endpoints []string, args ...string) *runningGateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &runningGateway{stop: cancel, done: make(chan error, 1), reload: make(chan os.Signal, 1), logs: &syncBuffer{}, http: &http.Client{Timeout: 30 * time.Second}}
	addr := make(chan net.Addr, 1)
	args = append([]string{"--listen-addr", "127.0.0.1:0", "--endpoints", strings.Join(endpoints, ",")}, args...)
	go func() {
		g.done <- run(ctx, args, io.MultiWriter(g.logs, t.Output()), g.reload, func(a net.Addr) { addr <- a })
	}()
	t.Cleanup(func() {
		cancel()
		<-g.done
	})
	select {
	case a := <-addr:
		g.url = "http://" + a.String()
	case err := <-g.done:
		g.done <- err
		t.Fatalf("run: %v", err)
	}
	return g
}

func (g *runningGateway) do(t *testing.T, method, path, token string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, g.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func writeTokenFile(t *testing.T, path, token string) {
	t.Helper()
	content := `{"tokens": [{"name": "t", "role": "admin", "token": "` + token + `"}]}`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRun_ServeReloadDrain runs kvgateway against a real in-process cluster:
// it serves, reloads its tokens on a SIGHUP, and on SIGTERM lets a request
// in flight finish after the listener has closed.
func TestRun_ServeReloadDrain(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	writeTokenFile(t, tokens, tok1)
	g := startRun(t, c.Endpoints(), "--token-file", tokens, "--shutdown-timeout", "30s")

	if r := g.do(t, "PUT", "/v1/kv/k", tok1, strings.NewReader("v")); r.StatusCode != 200 {
		t.Fatalf("PUT = %d", r.StatusCode)
	}
	if r := g.do(t, "GET", "/v1/kv/k?raw", tok1, nil); r.StatusCode != 200 {
		t.Fatalf("GET = %d", r.StatusCode)
	}

	// SIGHUP: the new token file is in force.
	writeTokenFile(t, tokens, tok2)
	g.reload <- syscall.SIGHUP
	servertest.WaitFor(t, 10*time.Second, "the new token accepted", func() bool {
		return g.do(t, "GET", "/v1/kv/k", tok2, nil).StatusCode == 200
	})
	if r := g.do(t, "GET", "/v1/kv/k", tok1, nil); r.StatusCode != 401 {
		t.Errorf("old token after reload: %d", r.StatusCode)
	}

	// A PUT whose body is still arriving when SIGTERM comes.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PUT", g.url+"/v1/kv/inflight", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok2)
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := g.http.Do(req)
		if err != nil {
			t.Errorf("in-flight PUT: %v", err)
		}
		answered <- resp
	}()
	if _, err := pw.Write([]byte("half ")); err != nil {
		t.Fatal(err)
	}
	servertest.WaitFor(t, 10*time.Second, "the PUT in flight", func() bool {
		// This scrape is in flight too.
		b, _ := io.ReadAll(g.do(t, "GET", "/metrics", "", nil).Body)
		return strings.Contains(string(b), "raftkv_gateway_requests_in_flight 2")
	})
	g.stop() // SIGTERM
	servertest.WaitFor(t, 10*time.Second, "the listener closed", func() bool {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(g.url, "http://"), time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err != nil
	})
	if _, err := pw.Write([]byte("done")); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	resp := <-answered
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("in-flight PUT after SIGTERM: %v", resp)
	}
	_ = resp.Body.Close()
	if err := <-g.done; err != nil {
		t.Fatalf("run: %v", err)
	}
	g.done <- nil // for the cleanup
	logs := g.logs.String()
	for _, want := range []string{"shutting down: draining", "kvgateway stopped", "token file loaded"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	for _, tok := range []string{tok1, tok2} {
		if strings.Contains(logs, tok) {
			t.Errorf("a token was logged")
		}
	}
}

// TestRun_TLS serves HTTPS with --cert-file/--key-file.
func TestRun_TLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	g := startRun(t, []string{"127.0.0.1:1"}, "--insecure-no-auth", "--cert-file", certFile, "--key-file", keyFile)
	g.url = strings.Replace(g.url, "http://", "https://", 1)
	g.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	if r := g.do(t, "GET", "/livez", "", nil); r.StatusCode != 200 || r.TLS == nil {
		t.Fatalf("livez over TLS: %d", r.StatusCode)
	}
	if !strings.Contains(g.logs.String(), "AUTHENTICATION IS DISABLED") {
		t.Error("no loud warning without auth")
	}
}

// TestRun_BadCertificate fails the start, as a usage error, before
// listening.
func TestRun_BadCertificate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"--insecure-no-auth", "--listen-addr", "127.0.0.1:0", "--cert-file", bad, "--key-file", bad},
		io.Discard, nil, func(net.Addr) { t.Error("listening with a bad certificate") })
	if !errors.Is(err, errUsage) {
		t.Errorf("run = %v, want a usage error", err)
	}
}

func TestParseFlags_Errors(t *testing.T) {
	for name, args := range map[string][]string{
		"NoAuthChoice":     {},
		"BothAuthChoices":  {"--token-file", "x", "--insecure-no-auth"},
		"BadProxy":         {"--insecure-no-auth", "--trusted-proxies", "10.0.0.0/99"},
		"CertWithoutKey":   {"--insecure-no-auth", "--cert-file", "c.pem"},
		"BadLogLevel":      {"--insecure-no-auth", "--log-level", "loud"},
		"NoEndpoints":      {"--insecure-no-auth", "--endpoints", ""},
		"NegativeRate":     {"--insecure-no-auth", "--ip-rate", "-1"},
		"NegativeTimeout":  {"--insecure-no-auth", "--shutdown-timeout", "-1s"},
		"ExtraArgument":    {"--insecure-no-auth", "extra"},
		"UnknownFlag":      {"--insecure-no-auth", "--bogus"},
		"ZeroBurstForRate": {"--insecure-no-auth", "--ip-burst", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseFlags(args, io.Discard)
			if !errors.Is(err, errUsage) {
				t.Errorf("parseFlags(%q) = %v, want a usage error", args, err)
			}
		})
	}
	if _, err := parseFlags([]string{"--help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	o, err := parseFlags([]string{"--insecure-no-auth", "--trusted-proxies", "10.0.0.0/8, 192.0.2.1", "--ip-rate", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.gateway.TrustedProxies) != 2 || o.gateway.TrustedProxies[1].String() != "192.0.2.1/32" || !o.gateway.IPLimit.Unlimited() {
		t.Errorf("options: %+v", o.gateway)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kvgateway test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
