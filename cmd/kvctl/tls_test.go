package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestRun_TLSFlags(t *testing.T) {
	dir := t.TempDir()
	if r := runWith(t, newFakeClient(), nil, "certs", "create", "--dir", dir, "--nodes", "n1"); r.code != exitOK {
		t.Fatalf("certs create: exit %d, stderr %q", r.code, r.stderr)
	} else if !strings.Contains(r.stdout, "client-key.pem") {
		t.Fatalf("certs create output %q does not list the client key", r.stdout)
	}
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")

	t.Run("plaintext by default", func(t *testing.T) {
		fc := newFakeClient()
		if r := runWith(t, fc, nil, "get", "a/1"); r.code != exitOK || fc.cfg.TLS != nil {
			t.Fatalf("exit %d, TLS %v: want 0 and no TLS", r.code, fc.cfg.TLS)
		}
	})
	t.Run("cacert, cert and key", func(t *testing.T) {
		fc := newFakeClient()
		r := runWith(t, fc, nil, "--cacert", ca, "--cert", cert, "--key", key, "get", "a/1")
		if r.code != exitOK || fc.cfg.TLS == nil || fc.cfg.TLS.RootCAs == nil || fc.cfg.TLS.GetClientCertificate == nil {
			t.Fatalf("exit %d (stderr %q), TLS %+v: want a CA pool and a client certificate", r.code, r.stderr, fc.cfg.TLS)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--cert", cert}, "--cert needs --key"},
		{"key without cert", []string{"--key", key}, "--key needs --cert"},
		{"missing CA file", []string{"--cacert", filepath.Join(dir, "nope.pem")}, "--cacert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runWith(t, newFakeClient(), nil, append(tc.args, "get", "a/1")...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q: want %d and %q", r.code, r.stderr, exitUsage, tc.want)
			}
		})
	}
	if r := runWith(t, newFakeClient(), nil, "certs", "create", "--dir", dir, "--nodes", "n1"); r.code != exitOK || !strings.Contains(r.stdout, "already exist") {
		t.Fatalf("second certs create: exit %d, stdout %q", r.code, r.stdout)
	}
}
