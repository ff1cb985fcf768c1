package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
)

func TestParseReadFlags(t *testing.T) {
	tests := []struct {
		name          string
		consistency   string
		setC          bool
		maxStaleness  time.Duration
		setM          bool
		allowDegraded bool
		want          readChoice
		wantErr       string
	}{
		{name: "default", consistency: "linearizable", want: readChoice{level: client.Linearizable}},
		{name: "stale", consistency: "stale", setC: true, want: readChoice{level: client.Stale}},
		{name: "bounded", consistency: "bounded", setC: true, maxStaleness: 2 * time.Second, setM: true,
			want: readChoice{level: client.Bounded, maxStaleness: 2 * time.Second}},
		{name: "max staleness implies bounded", consistency: "linearizable", maxStaleness: time.Second, setM: true,
			want: readChoice{level: client.Bounded, maxStaleness: time.Second}},
		{name: "allow degraded", consistency: "linearizable", allowDegraded: true,
			want: readChoice{level: client.Linearizable, allowDegraded: true}},
		{name: "unknown level", consistency: "eventual", setC: true, wantErr: "must be linearizable, stale or bounded"},
		{name: "bounded without bound", consistency: "bounded", setC: true, wantErr: "needs --max-staleness"},
		{name: "bound on stale", consistency: "stale", setC: true, maxStaleness: time.Second, setM: true, wantErr: "needs --consistency bounded"},
		{name: "zero bound", consistency: "linearizable", setM: true, wantErr: "must be positive"},
		{name: "degraded on stale", consistency: "stale", setC: true, allowDegraded: true, wantErr: "linearizable reads only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReadFlags(tt.consistency, tt.setC, tt.maxStaleness, tt.setM, tt.allowDegraded)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseReadFlags = %+v, %v; want %+v", got, err, tt.want)
			}
			wantOpts := 1
			if got.level == client.Bounded {
				wantOpts++
			}
			if got.allowDegraded {
				wantOpts++
			}
			if n := len(got.options()); n != wantOpts {
				t.Errorf("options() has %d options, want %d", n, wantOpts)
			}
		})
	}
}

func TestRun_GetConsistencyFlags(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantOpts int // options the client received
	}{
		{[]string{"get", "a/1"}, exitOK, 1},
		{[]string{"get", "a/1", "--consistency", "stale"}, exitOK, 1},
		{[]string{"get", "a/1", "--max-staleness", "2s"}, exitOK, 2},
		{[]string{"get", "a/1", "--consistency", "bounded", "--max-staleness", "2s"}, exitOK, 2},
		{[]string{"get", "a/1", "--allow-degraded"}, exitOK, 2},
		{[]string{"get", "--prefix", "a/", "--consistency", "stale"}, exitOK, 2}, // plus WithLimit
		{[]string{"get", "--prefix", "a/", "--max-staleness", "500ms"}, exitOK, 3},
		{[]string{"get", "a/1", "--consistency", "eventual"}, exitUsage, 0},
		{[]string{"get", "a/1", "--consistency", "bounded"}, exitUsage, 0},
		{[]string{"get", "a/1", "--consistency", "stale", "--max-staleness", "1s"}, exitUsage, 0},
		{[]string{"get", "a/1", "--max-staleness", "-1s"}, exitUsage, 0},
		{[]string{"get", "--prefix", "--consistency", "stale", "--allow-degraded"}, exitUsage, 0},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fc := newFakeClient()
			r := runWith(t, fc, nil, tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d (stderr %q)", r.code, tt.wantCode, r.stderr)
			}
			if tt.wantCode == exitUsage && !strings.Contains(r.stderr, "--help' for usage") {
				t.Errorf("stderr = %q, want a usage hint", r.stderr)
			}
			if fc.opts != tt.wantOpts {
				t.Errorf("client got %d read options, want %d", fc.opts, tt.wantOpts)
			}
		})
	}
}

func TestRun_DegradedWarning(t *testing.T) {
	degraded := client.Header{NodeID: "n2", AppliedIndex: 9, LastContact: 12 * time.Second, Degraded: true,
		Consistency: client.Stale}
	for _, args := range [][]string{
		{"get", "a/1", "--consistency", "stale"},
		{"get", "--prefix", "a/", "--consistency", "stale"},
		{"-w", "json", "get", "a/1", "--allow-degraded"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			fc := newFakeClient()
			fc.header = &degraded
			r := runWith(t, fc, nil, args...)
			if r.code != exitOK {
				t.Fatalf("exit code = %d, stderr %q", r.code, r.stderr)
			}
			for _, want := range []string{"warning: served by n2 in degraded mode (no quorum since ", "12s ago); data may be stale\n"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr = %q, want it to contain %q", r.stderr, want)
				}
			}
			if !strings.Contains(r.stdout, "one") && !strings.Contains(r.stdout, "b25l") {
				t.Errorf("stdout = %q, want the value", r.stdout)
			}
		})
	}

	// A healthy stale answer gets no warning.
	fc := newFakeClient()
	fc.header = &client.Header{NodeID: "n3", Consistency: client.Stale, LeaderKnown: true}
	if r := runWith(t, fc, nil, "get", "a/1", "--consistency", "stale"); r.code != exitOK || r.stderr != "" {
		t.Errorf("healthy stale read: exit %d, stderr %q; want 0 and no warning", r.code, r.stderr)
	}
}

func TestWarnDegraded(t *testing.T) {
	now := time.Date(2026, 11, 28, 15, 0, 30, 0, time.UTC)
	tests := []struct {
		h    client.Header
		want string
	}{
		{client.Header{NodeID: "n1"}, ""},
		{client.Header{NodeID: "n2", Degraded: true, LastContact: 30 * time.Second},
			"warning: served by n2 in degraded mode (no quorum since 2026-11-28T15:00:00Z, 30s ago); data may be stale\n"},
		{client.Header{NodeID: "n3", Degraded: true, LastContact: -1},
			"warning: served by n3 in degraded mode (no leader seen since it started); data may be stale\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		warnDegraded(&buf, tt.h, now)
		if buf.String() != tt.want {
			t.Errorf("warnDegraded(%+v) = %q, want %q", tt.h, buf.String(), tt.want)
		}
	}
}

func TestRun_NoQuorumAndStale(t *testing.T) {
	nq := &client.NoQuorumError{NodeID: "n2", Since: time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)}
	tests := []struct {
		err      error
		wantHint bool
	}{
		{fmt.Errorf("%w (tried 3 members, none could serve the request)", nq), true},
		{fmt.Errorf("%w: n2 refused at applied index 7", client.ErrStale), false},
	}
	for _, tt := range tests {
		for _, args := range [][]string{{"put", "k", "v"}, {"get", "k"}, {"get", "--prefix", "--max-staleness", "1s"}, {"del", "k"}} {
			fc := newFakeClient()
			fc.err = tt.err
			r := runWith(t, fc, nil, args...)
			if r.code != exitUnavailable || !strings.Contains(r.stderr, tt.err.Error()) {
				t.Errorf("%v with %q: exit %d, stderr %q; want exit %d and the error", args, tt.err, r.code, r.stderr, exitUnavailable)
			}
			if hint := strings.Contains(r.stderr, "lost its quorum") && strings.Contains(r.stderr, "--consistency stale"); hint != tt.wantHint {
				t.Errorf("%v with %q: stderr %q, hint shown = %v, want %v", args, tt.err, r.stderr, hint, tt.wantHint)
			}
		}
	}
}

func TestRun_ClusterStatusDegraded(t *testing.T) {
	fc := newFakeClient()
	n2 := *fc.status["127.0.0.1:7002"]
	n2.Header.Degraded = true
	fc.status["127.0.0.1:7002"] = &n2
	r := runWith(t, fc, nil, "-w", "table", "cluster", "status")
	if r.code != exitUnavailable { // n3 still does not answer
		t.Errorf("exit code = %d, want %d", r.code, exitUnavailable)
	}
	lines := strings.Split(r.stdout, "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "DEGRADED") ||
		!strings.Contains(lines[1], " false ") || !strings.Contains(lines[2], " true ") {
		t.Errorf("cluster status table =\n%s\nwant a DEGRADED column, false for n1 and true for n2", r.stdout)
	}

	r = runWith(t, fc, nil, "-w", "json", "cluster", "status")
	var st struct {
		Members []jsonStatus `json:"members"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if len(st.Members) != 3 || st.Members[0].Degraded || !st.Members[1].Degraded || !st.Members[1].Header.Degraded {
		t.Errorf("cluster status -w json = %+v", st.Members)
	}
}

func TestJSONPrinter_ReadHeader(t *testing.T) {
	var buf bytes.Buffer
	h := client.Header{NodeID: "n2", LeaderKnown: false, LastContact: 1500 * time.Millisecond, Degraded: true, Consistency: client.Stale}
	if err := (jsonPrinter{}).get(&buf, &client.GetResponse{Header: h, KV: client.KeyValue{Key: "k"}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"leader_known": false`, `"last_contact_ms": 1500`, `"degraded": true`, `"consistency": "stale"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON output lacks %s:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := (jsonPrinter{}).put(&buf, "k", &client.PutResponse{Header: client.Header{LastContact: -1}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `"consistency"`) || !strings.Contains(buf.String(), `"last_contact_ms": -1`) {
		t.Errorf("put JSON = %s, want no consistency and last_contact_ms -1", buf.String())
	}
}
