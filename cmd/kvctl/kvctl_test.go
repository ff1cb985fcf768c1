package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/client"
)

func TestRun_UsageErrors(t *testing.T) {
	tests := [][]string{
		{"put", "k"},
		{"put", "k", "v", "extra"},
		{"get"},
		{"get", "k", "--limit", "3"},
		{"get", "--prefix", "a", "b"},
		{"get", "--prefix", "a", "--limit", "-1"},
		{"del"},
		{"cas", "k", "v"},
		{"put", "k", "v", "--mod-index", "x"},
		{"bogus"},
		{"--no-such-flag", "get", "k"},
		{"get", "k", "--no-such-flag"},
		{"-w", "xml", "get", "k"},
		{"--command-timeout", "0s", "get", "k"},
		{"--command-timeout", "soon", "get", "k"},
		{"--endpoints", " , ", "get", "k"},
		{"member", "list", "extra"},
		{"cluster", "status", "extra"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runWith(t, newFakeClient(), nil, args...)
			if r.code != exitUsage {
				t.Errorf("exit code = %d, want %d (stderr %q)", r.code, exitUsage, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, "--help' for usage") {
				t.Errorf("stderr = %q, want an error and a usage hint", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestRun_HelpAndCompletion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, &out, &errOut, func(string) string { return "" }); code != exitOK {
		t.Fatalf("--help exit code = %d, stderr %q", code, errOut.String())
	}
	for _, want := range []string{"Exit codes:", "no quorum", "5  write outcome unknown", "6  condition failed", "--endpoints", "KVCTL_ENDPOINTS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help output lacks %q", want)
		}
	}
	out.Reset()
	if code := run([]string{"completion", "bash"}, &out, &errOut, func(string) string { return "" }); code != exitOK {
		t.Fatalf("completion bash exit code = %d, stderr %q", code, errOut.String())
	}
	if !strings.Contains(out.String(), "bash completion") || !strings.Contains(out.String(), "__start_kvctl") {
		t.Errorf("completion bash output does not look like a bash completion script")
	}
}

func TestRun_Endpoints(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"default", nil, nil, []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}},
		{"env", map[string]string{envEndpoints: "10.0.0.1:1, 10.0.0.2:2"}, nil, []string{"10.0.0.1:1", "10.0.0.2:2"}},
		{"flag beats env", map[string]string{envEndpoints: "10.0.0.1:1"}, []string{"--endpoints", "h:3,"}, []string{"h:3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFakeClient()
			args := append(slices.Clone(tt.args), "--dial-timeout", "3s", "get", "a/1")
			if r := runWith(t, fc, tt.env, args...); r.code != exitOK {
				t.Fatalf("exit code = %d, stderr %q", r.code, r.stderr)
			}
			if !slices.Equal(fc.cfg.Endpoints, tt.want) || fc.cfg.DialTimeout.String() != "3s" {
				t.Errorf("client config = %+v, want endpoints %v and dial timeout 3s", fc.cfg, tt.want)
			}
			if !fc.closed {
				t.Error("client was not closed")
			}
		})
	}
}

func TestRun_Commands(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // substring
	}{
		{"put", []string{"put", "k", "v"}, exitOK, "OK\n", ""},
		{"get", []string{"get", "a/1"}, exitOK, "one\n", ""},
		{"get missing", []string{"get", "nope"}, exitNotFound, "", `Error: get "nope": key not found`},
		{"del existing", []string{"del", "a/1"}, exitOK, "1\n", ""},
		{"del missing", []string{"delete", "nope"}, exitOK, "0\n", ""},
		{"get prefix", []string{"get", "--prefix", "a/", "--limit", "2"}, exitOK, "a/1\none\na/2\ntwo\n", "raise --limit"},
		{"get prefix table", []string{"get", "a/", "--prefix", "-w", "table"}, exitOK,
			"KEY  VALUE  CREATE INDEX  MOD INDEX\na/1  one    3             4\na/2  two    5             5\n", "raise --limit"},
		{"member list", []string{"member", "list"}, exitOK,
			"n1, 127.0.0.1:7001, 127.0.0.1:9001, true, true\n" +
				"n2, 127.0.0.1:7002, 127.0.0.1:9002, true, false\n" +
				"n3, 127.0.0.1:7003, 127.0.0.1:9003, true, false\n", ""},
		{"cluster status", []string{"cluster", "status"}, exitUnavailable,
			"n1, 127.0.0.1:7001, 127.0.0.1:9001, leader, true, 2, 12, 12, 12, 0, 0s, false, \n" +
				"n2, 127.0.0.1:7002, 127.0.0.1:9002, follower, true, 2, 12, 11, 9, 3, 40ms, false, \n" +
				"n3, 127.0.0.1:7003, 127.0.0.1:9003, -, true, -, -, -, -, -, -, -, cluster unavailable: 127.0.0.1:7003: connection refused\n" +
				// The fake headers know no leader, so no voter counts as healthy.
				"voters: 0 healthy of 3, quorum 2, failure tolerance -2\n",
			"1 of 3 members did not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWith(t, newFakeClient(), nil, tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", r.code, tt.wantCode, r.stderr)
			}
			if r.stdout != tt.wantStdout {
				t.Errorf("stdout =\n%s\nwant\n%s", r.stdout, tt.wantStdout)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) || (tt.wantStderr == "" && r.stderr != "") {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.wantStderr)
			}
		})
	}
}

func TestRun_ClientErrors(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: key too long", client.ErrInvalidArgument), exitUsage},
		{fmt.Errorf("%w: n1", client.ErrNoLeader), exitUnavailable},
		{fmt.Errorf("%w: leader lost", client.ErrOutcomeUnknown), exitOutcomeUnknown},
		{errors.New("server error Internal: boom"), exitError},
	}
	for _, tt := range tests {
		for _, args := range [][]string{{"put", "k", "v"}, {"del", "k"}, {"get", "k"}, {"get", "--prefix"}, {"member", "list"}} {
			fc := newFakeClient()
			fc.err = tt.err
			r := runWith(t, fc, nil, args...)
			if r.code != tt.want || !strings.Contains(r.stderr, tt.err.Error()) {
				t.Errorf("%v with %q: exit %d, stderr %q; want exit %d and the error", args, tt.err, r.code, r.stderr, tt.want)
			}
		}
	}
}

func TestRun_JSON(t *testing.T) {
	r := runWith(t, newFakeClient(), nil, "-w", "json", "get", "a/1")
	if r.code != exitOK {
		t.Fatalf("exit code %d, stderr %q", r.code, r.stderr)
	}
	var got jsonKVs
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("get -w json is not JSON: %v\n%s", err, r.stdout)
	}
	if got.Count != 1 || string(got.KVs[0].Value) != "one" || got.KVs[0].ModIndex != 4 ||
		got.Header.LeaderAddr != "127.0.0.1:7001" || got.Header.Term != 2 {
		t.Errorf("get -w json = %+v", got)
	}
	if !strings.Contains(r.stdout, `"value": "b25l"`) {
		t.Errorf("value is not base64 in %s", r.stdout)
	}

	r = runWith(t, newFakeClient(), nil, "-w", "json", "cluster", "status")
	var st struct {
		Members []jsonStatus `json:"members"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("cluster status -w json is not JSON: %v\n%s", err, r.stdout)
	}
	if r.code != exitUnavailable || len(st.Members) != 3 || st.Members[1].Lag != 3 ||
		st.Members[1].LastContactMs != 40 || st.Members[2].Error == "" || st.Members[0].Error != "" {
		t.Errorf("cluster status -w json (exit %d) = %+v", r.code, st.Members)
	}

	for _, args := range [][]string{{"put", "k", "v"}, {"del", "a/1"}, {"get", "--prefix"}, {"member", "list"}} {
		r := runWith(t, newFakeClient(), nil, append([]string{"-w", "json"}, args...)...)
		if r.code != exitOK || !json.Valid([]byte(r.stdout)) {
			t.Errorf("%v -w json: exit %d, output %q", args, r.code, r.stdout)
		}
	}
}

func TestRun_Unreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"get", "k"}, {"get", "k", "--consistency", "stale"}, {"put", "k", "v"}, {"cluster", "status"}} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"--endpoints", dead, "--command-timeout", "300ms"}, args...),
			&out, &errOut, func(string) string { return "" })
		if code != exitUnavailable || !strings.Contains(errOut.String(), dead) {
			t.Errorf("%v against a dead endpoint: exit %d, stderr %q; want %d naming %s",
				args, code, errOut.String(), exitUnavailable, dead)
		}
	}
}
