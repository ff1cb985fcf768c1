// Package logflags builds a command's process logger from its --log-level
// and --log-format flags, the same way for every raftkv binary.
package logflags

import (
	"fmt"
	"io"
	"log/slog"
)

// New returns a logger writing to w at level ("debug", "info", "warn" or
// "error") in format ("text" or "json"), and makes it the slog default,
// which only a main package may do. Errors name the flag to fix.
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	logger := slog.New(h)
	slog.SetDefault(logger)
	return logger, nil
}
