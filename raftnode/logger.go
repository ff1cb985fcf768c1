package raftnode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter implements hclog.Logger over a *slog.Logger. hashicorp/raft
// logs through hclog and go-hclog has no slog bridge, so this is how raft's
// logs reach the logger passed in Config.
//
// Levels map one to one, with hclog.Trace below slog.LevelDebug and
// hclog.NoLevel treated as Info. Whether a record is emitted is decided by
// the slog handler; SetLevel can only raise the threshold further.
type hclogAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
	level   *atomic.Int32 // hclog.Level; shared with loggers derived by With/Named
	// position, once set, reports the node's current term and commit index;
	// every raft log line then carries both (keys term and commit_index)
	// unless raft already logged a term. Shared with derived loggers.
	position *atomic.Pointer[func() (term, commit uint64)]
}

var _ hclog.Logger = (*hclogAdapter)(nil)

// levelTrace is where hclog's Trace lands in slog: one step below Debug.
const levelTrace = slog.LevelDebug - 4

func newHCLogger(l *slog.Logger) *hclogAdapter {
	lvl := new(atomic.Int32)
	lvl.Store(int32(hclog.Trace))
	return &hclogAdapter{l: l, level: lvl, position: new(atomic.Pointer[func() (uint64, uint64)])}
}

// setPosition installs the term/commit index source once raft exists. It
// must only read raft's atomics: raft may log while holding its locks.
func (a *hclogAdapter) setPosition(fn func() (term, commit uint64)) { a.position.Store(&fn) }

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default: // Info, NoLevel
		return slog.LevelInfo
	}
}

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	if level == hclog.Off {
		return false
	}
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if min := hclog.Level(a.level.Load()); min != hclog.NoLevel && level < min {
		return false
	}
	return a.l.Enabled(context.Background(), slogLevel(level))
}

// Log implements hclog.Logger.
func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if !a.enabled(level) {
		return
	}
	attrs := make([]any, 0, 1+len(a.implied)/2+len(args)/2)
	if a.name != "" {
		attrs = append(attrs, slog.String("logger", a.name))
	}
	attrs = appendAttrs(attrs, a.implied)
	attrs = appendAttrs(attrs, args)
	if pos := a.position.Load(); pos != nil && !hasKey(args, "term") {
		term, commit := (*pos)()
		attrs = append(attrs, slog.Uint64("term", term), slog.Uint64("commit_index", commit))
	}
	a.l.Log(context.Background(), slogLevel(level), msg, attrs...)
}

// hasKey reports whether hclog key/value args contain key.
func hasKey(args []any, key string) bool {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == key {
			return true
		}
	}
	return false
}

// appendAttrs converts hclog's alternating key/value arguments to slog
// attributes. hclog.Format values are rendered with fmt, raft's "error" key
// becomes the project-wide "err", and a dangling value is kept under
// hclog's own EXTRA_VALUE_AT_END key.
func appendAttrs(dst, args []any) []any {
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			dst = append(dst, slog.Any(hclog.MissingKey, args[i]))
			break
		}
		key := fmt.Sprint(args[i])
		if key == "error" {
			key = "err"
		}
		val := args[i+1]
		if f, ok := val.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				val = fmt.Sprintf(format, f[1:]...)
			}
		}
		dst = append(dst, slog.Any(key, val))
	}
	return dst
}

// Trace implements hclog.Logger.
func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }

// Debug implements hclog.Logger.
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }

// Info implements hclog.Logger.
func (a *hclogAdapter) Info(msg string, args ...any) { a.Log(hclog.Info, msg, args...) }

// Warn implements hclog.Logger.
func (a *hclogAdapter) Warn(msg string, args ...any) { a.Log(hclog.Warn, msg, args...) }

// Error implements hclog.Logger.
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

// IsTrace implements hclog.Logger.
func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }

// IsDebug implements hclog.Logger.
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }

// IsInfo implements hclog.Logger.
func (a *hclogAdapter) IsInfo() bool { return a.enabled(hclog.Info) }

// IsWarn implements hclog.Logger.
func (a *hclogAdapter) IsWarn() bool { return a.enabled(hclog.Warn) }

// IsError implements hclog.Logger.
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

// ImpliedArgs implements hclog.Logger.
func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

// With implements hclog.Logger.
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.implied = append(append([]any(nil), a.implied...), args...)
	return &c
}

// Name implements hclog.Logger.
func (a *hclogAdapter) Name() string { return a.name }

// Named implements hclog.Logger.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

// ResetNamed implements hclog.Logger.
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

// SetLevel implements hclog.Logger. It can only filter beyond what the slog
// handler already drops.
func (a *hclogAdapter) SetLevel(level hclog.Level) { a.level.Store(int32(level)) }

// GetLevel implements hclog.Logger. It reports the lowest level that would
// actually be emitted.
func (a *hclogAdapter) GetLevel() hclog.Level {
	for l := hclog.Trace; l <= hclog.Error; l++ {
		if a.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

// StandardLogger implements hclog.Logger.
func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

// StandardWriter implements hclog.Logger. Each write becomes one record at
// Info, at opts.ForceLevel, or at the level named by a "[LEVEL]" prefix when
// opts.InferLevels is set.
func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &stdlogWriter{a: a, force: opts.ForceLevel, infer: opts.InferLevels}
}

type stdlogWriter struct {
	a     *hclogAdapter
	force hclog.Level
	infer bool
}

func (w *stdlogWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimRight(p, " \t\n"))
	level := hclog.Info
	if w.force != hclog.NoLevel || w.infer {
		level, msg = splitLevelPrefix(msg, level)
		if w.force != hclog.NoLevel {
			level = w.force
		}
	}
	w.a.Log(level, msg)
	return len(p), nil
}

// splitLevelPrefix strips a leading "[LEVEL]" tag as written by the standard
// library loggers hashicorp code uses, returning the level it names.
func splitLevelPrefix(msg string, def hclog.Level) (hclog.Level, string) {
	prefixes := []struct {
		tag   string
		level hclog.Level
	}{
		{"[TRACE]", hclog.Trace},
		{"[DEBUG]", hclog.Debug},
		{"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn},
		{"[ERROR]", hclog.Error},
		{"[ERR]", hclog.Error},
	}
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(msg, p.tag); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return def, msg
}
