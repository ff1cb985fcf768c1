package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRun_ConditionalWrites(t *testing.T) {
	// The fake holds a/1 = one at mod index 4 and a/2 = two at 5.
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // substring
	}{
		{"put create if missing", []string{"put", "new", "v", "--mod-index", "0"}, exitOK, "OK\n", ""},
		{"put create but exists", []string{"put", "a/1", "v", "--mod-index", "0"}, exitCondition, "",
			`Error: put "a/1": condition failed: the key exists (mod index 4)`},
		{"put stale mod index", []string{"put", "a/1", "v", "--mod-index", "3"}, exitCondition, "",
			"condition failed: the key's mod index is 4, not 3"},
		{"put current mod index", []string{"put", "a/1", "v", "--mod-index", "4"}, exitOK, "OK\n", ""},
		{"put missing key", []string{"put", "nope", "v", "--mod-index", "9"}, exitCondition, "",
			"condition failed: the key does not exist (wanted mod index 9)"},
		{"del stale mod index", []string{"del", "a/2", "--mod-index", "4"}, exitCondition, "",
			"condition failed: the key's mod index is 5, not 4"},
		{"del current mod index", []string{"del", "a/2", "--mod-index", "5"}, exitOK, "1\n", ""},
		{"cas swaps", []string{"cas", "a/1", "one", "uno"}, exitOK, "OK\n", ""},
		{"cas mismatch", []string{"cas", "a/2", "one", "uno"}, exitCondition, "",
			`Error: cas "a/2": condition failed: the key does not hold "one"`},
		{"cas missing key", []string{"cas", "nope", "", "x"}, exitCondition, "", `the key does not hold ""`},
		{"bad mod index", []string{"put", "k", "v", "--mod-index", "-1"}, exitUsage, "", "invalid argument"},
		{"cas needs three arguments", []string{"cas", "k", "old"}, exitUsage, "", "expected 3 argument(s) <key> <old> <new>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWith(t, newFakeClient(), nil, tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", r.code, tt.wantCode, r.stderr)
			}
			if r.stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", r.stdout, tt.wantStdout)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) || (tt.wantStderr == "" && r.stderr != "") {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.wantStderr)
			}
		})
	}
}

func TestRun_CASOutput(t *testing.T) {
	r := runWith(t, newFakeClient(), nil, "-w", "table", "cas", "a/1", "one", "uno")
	if r.code != exitOK || r.stdout != "KEY  SWAPPED\na/1  true\n" {
		t.Errorf("cas -w table: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runWith(t, newFakeClient(), nil, "-w", "json", "cas", "a/1", "one", "uno")
	var got struct {
		Key     string `json:"key"`
		Swapped bool   `json:"swapped"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitOK || got.Key != "a/1" || !got.Swapped {
		t.Errorf("cas -w json: exit %d, stdout %q (%v)", r.code, r.stdout, err)
	}
	fc := newFakeClient()
	runWith(t, fc, nil, "cas", "a/1", "one", "uno")
	if v := string(fc.kvs["a/1"].Value); v != "uno" {
		t.Errorf("a/1 = %q after cas, want uno", v)
	}
}
