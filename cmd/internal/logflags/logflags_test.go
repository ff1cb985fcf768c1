package logflags

import (
	"bytes"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	var b bytes.Buffer
	l, err := New(&b, "warn", "json")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "k", "v")
	if out := b.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown"`) {
		t.Fatalf("output %q: want only the warning, as JSON", out)
	}
	for _, tc := range []struct{ level, format, flag string }{
		{"loud", "text", "--log-level"},
		{"info", "xml", "--log-format"},
	} {
		if _, err := New(&b, tc.level, tc.format); err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("New(%q, %q) = %v; want an error naming %s", tc.level, tc.format, err, tc.flag)
		}
	}
}
