package raftnode

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu      sync.Mutex
	min     slog.Level
	records []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.min }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) last(t *testing.T) (slog.Level, string, map[string]string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.records) == 0 {
		t.Fatal("no record")
	}
	rec := r.records[len(r.records)-1]
	attrs := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	return rec.Level, rec.Message, attrs
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.records)
}

func TestHCLogAdapter_LevelMapping(t *testing.T) {
	tests := []struct {
		level hclog.Level
		want  slog.Level
	}{
		{hclog.Trace, slog.LevelDebug - 4},
		{hclog.Debug, slog.LevelDebug},
		{hclog.Info, slog.LevelInfo},
		{hclog.NoLevel, slog.LevelInfo},
		{hclog.Warn, slog.LevelWarn},
		{hclog.Error, slog.LevelError},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			rec := &recorder{min: slog.LevelDebug - 4}
			newHCLogger(slog.New(rec)).Log(tt.level, "msg")
			if got, _, _ := rec.last(t); got != tt.want {
				t.Errorf("level %v -> %v, want %v", tt.level, got, tt.want)
			}
		})
	}

	rec := &recorder{min: slog.LevelDebug - 4}
	newHCLogger(slog.New(rec)).Log(hclog.Off, "dropped")
	if rec.count() != 0 {
		t.Error("hclog.Off was logged")
	}
}

func TestHCLogAdapter_Enabled(t *testing.T) {
	rec := &recorder{min: slog.LevelInfo}
	l := newHCLogger(slog.New(rec))
	if l.IsTrace() || l.IsDebug() || !l.IsInfo() || !l.IsWarn() || !l.IsError() {
		t.Errorf("Is* at slog Info: trace=%v debug=%v info=%v warn=%v error=%v",
			l.IsTrace(), l.IsDebug(), l.IsInfo(), l.IsWarn(), l.IsError())
	}
	if got := l.GetLevel(); got != hclog.Info {
		t.Errorf("GetLevel = %v, want Info", got)
	}
	l.Debug("dropped by handler")
	l.SetLevel(hclog.Error)
	l.Warn("dropped by SetLevel")
	if rec.count() != 0 {
		t.Errorf("%d records logged below the threshold", rec.count())
	}
	if got := l.GetLevel(); got != hclog.Error {
		t.Errorf("GetLevel after SetLevel(Error) = %v", got)
	}
}

func TestHCLogAdapter_Attributes(t *testing.T) {
	rec := &recorder{min: slog.LevelDebug}
	var l hclog.Logger = newHCLogger(slog.New(rec))
	l = l.Named("raft").Named("snapshot").With("peer", "n2")
	if l.Name() != "raft.snapshot" {
		t.Errorf("Name = %q", l.Name())
	}
	l.Info("hello", "error", "boom", "servers", hclog.Fmt("%d servers", 3), "dangling")
	_, msg, attrs := rec.last(t)
	want := map[string]string{
		"logger":         "raft.snapshot",
		"peer":           "n2",
		"err":            "boom",
		"servers":        "3 servers",
		hclog.MissingKey: "dangling",
	}
	if msg != "hello" {
		t.Errorf("msg = %q", msg)
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("attr %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}
	if got := l.ResetNamed("x").Name(); got != "x" {
		t.Errorf("ResetNamed name = %q", got)
	}
}

func TestHCLogAdapter_StandardLogger(t *testing.T) {
	rec := &recorder{min: slog.LevelDebug}
	l := newHCLogger(slog.New(rec))
	l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[WARN] disk slow")
	if level, msg, _ := rec.last(t); level != slog.LevelWarn || msg != "disk slow" {
		t.Errorf("inferred: %v %q, want WARN \"disk slow\"", level, msg)
	}
	l.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Error}).Print("plain")
	if level, msg, _ := rec.last(t); level != slog.LevelError || msg != "plain" {
		t.Errorf("forced: %v %q, want ERROR \"plain\"", level, msg)
	}
	l.StandardLogger(nil).Print("[DEBUG] kept as is")
	if level, msg, _ := rec.last(t); level != slog.LevelInfo || msg != "[DEBUG] kept as is" {
		t.Errorf("default: %v %q", level, msg)
	}
}

func TestHCLogAdapter_AddsTermAndCommitIndex(t *testing.T) {
	var buf bytes.Buffer
	a := newHCLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a.Info("before raft exists")
	a.setPosition(func() (uint64, uint64) { return 7, 42 })
	a.Named("raft").Info("entering follower state")
	a.Info("vote granted", "term", 9)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines: %s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], `"term"`) {
		t.Errorf("term logged before raft exists: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"term":7`) || !strings.Contains(lines[1], `"commit_index":42`) {
		t.Errorf("raft line lacks term and commit index: %s", lines[1])
	}
	if strings.Count(lines[2], `"term"`) != 1 || !strings.Contains(lines[2], `"term":9`) {
		t.Errorf("raft's own term must win, once: %s", lines[2])
	}
}
