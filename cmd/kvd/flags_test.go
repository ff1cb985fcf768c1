package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	valid := []string{"--node-id", "n1", "--data-dir", "/tmp/x", "--grpc-addr", "127.0.0.1:7001", "--raft-addr", "127.0.0.1:7101"}
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" = valid
	}{
		{"valid single node", valid, ""},
		{"valid bootstrap cluster", append(valid, "--bootstrap", "--initial-cluster", "n1=127.0.0.1:7101,n2=127.0.0.1:7102"), ""},
		{"valid join", append(valid, "--join", "127.0.0.1:7002, 127.0.0.1:7003"), ""},
		{"missing node id", []string{"--data-dir", "/tmp/x"}, "node id is required"},
		{"missing data dir", []string{"--node-id", "n1"}, "data dir is required"},
		{"bad grpc addr", append(valid, "--grpc-addr", "nonsense"), "grpc address"},
		{"initial cluster without bootstrap", append(valid, "--initial-cluster", "n1=127.0.0.1:7101"), "needs --bootstrap"},
		{"malformed initial cluster", append(valid, "--bootstrap", "--initial-cluster", "n1"), "want id=host:port"},
		{"duplicate initial cluster id", append(valid, "--bootstrap", "--initial-cluster", "n1=127.0.0.1:7101,n1=127.0.0.1:7102"), "twice"},
		{"bootstrap and join", append(valid, "--bootstrap", "--join", "127.0.0.1:7002"), "exclusive"},
		{"valid non-voter", append(valid, "--join", "127.0.0.1:7002", "--nonvoter", "--leave-on-terminate"), ""},
		{"valid autopilot", append(valid, "--target-voters", "3", "--dead-member-timeout", "1m", "--stabilization-time", "5s"), ""},
		{"non-voter without join", append(valid, "--nonvoter"), "needs join addresses"},
		{"non-voter bootstrap", append(valid, "--nonvoter", "--bootstrap"), "exclusive"},
		{"negative target voters", append(valid, "--target-voters", "-1"), "target voters"},
		{"bad log level", append(valid, "--log-level", "loud"), "--log-level"},
		{"bad log format", append(valid, "--log-format", "xml"), "--log-format"},
		{"stray argument", append(valid, "extra"), "unexpected arguments"},
		{"unknown flag", append(valid, "--nope"), "nope"},
		{"valid state machine commits", append(valid, "--state-machine-commit-interval", "100ms", "--state-machine-commit-entries", "5000"), ""},
		{"state machine commit per batch", append(valid, "--state-machine-commit-interval", "-1ms"), ""},
		{"negative state machine commit entries", append(valid, "--state-machine-commit-entries", "-1"), "state machine commit entries must not be negative"},
		{"negative gc percent", append(valid, "--gc-percent", "-5"), "--gc-percent must be positive"},
		{"valid client TLS", append(valid, "--cert-file", "c.pem", "--key-file", "k.pem"), ""},
		{"valid client cert auth and peer TLS", append(valid, "--cert-file", "c.pem", "--key-file", "k.pem", "--trusted-ca-file", "ca.pem", "--client-cert-auth",
			"--peer-cert-file", "c.pem", "--peer-key-file", "k.pem", "--peer-trusted-ca-file", "ca.pem"), ""},
		{"cert without key", append(valid, "--cert-file", "c.pem"), "--cert-file needs --key-file"},
		{"key without cert", append(valid, "--key-file", "k.pem"), "--key-file needs --cert-file"},
		{"client cert auth without CA", append(valid, "--cert-file", "c.pem", "--key-file", "k.pem", "--client-cert-auth"), "--client-cert-auth needs --trusted-ca-file"},
		{"client cert auth without TLS", append(valid, "--client-cert-auth", "--trusted-ca-file", "ca.pem"), "need --cert-file and --key-file"},
		{"peer cert without CA", append(valid, "--peer-cert-file", "c.pem", "--peer-key-file", "k.pem"), "go together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, proc, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseFlags: %v", err)
				}
				if cfg.NodeID != "n1" || proc.logger == nil {
					t.Fatalf("cfg = %+v", cfg)
				}
				return
			}
			if !errors.Is(err, errUsage) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.wantErr)
			}
		})
	}
	if _, _, err := parseFlags([]string{"--help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
}

// TestParseFlags_GCPercent checks where the Go GC target comes from: the
// flag, else GOGC (left to the runtime), else kvd's default.
func TestParseFlags_GCPercent(t *testing.T) {
	valid := []string{"--node-id", "n1", "--data-dir", "/tmp/x"}
	for _, tt := range []struct {
		name string
		gogc string // "" = unset
		args []string
		want int
	}{
		{"default", "", valid, defaultGCPercent},
		{"GOGC set", "150", valid, 0},
		{"flag", "", append(valid, "--gc-percent", "120"), 120},
		{"flag over GOGC", "150", append(valid, "--gc-percent", "120"), 120},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gogc == "" {
				t.Setenv("GOGC", "") // restored after the test
				if err := os.Unsetenv("GOGC"); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Setenv("GOGC", tt.gogc)
			}
			_, proc, err := parseFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			if proc.gcPercent != tt.want {
				t.Fatalf("gcPercent = %d, want %d", proc.gcPercent, tt.want)
			}
		})
	}
}
