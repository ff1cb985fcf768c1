//go:build !unix

package raftnode

import "io"

// lockDir is a no-op where flock is unavailable; the log store's own open
// is then the only guard against a second process.
func lockDir(string) (io.Closer, error) { return nopCloser{}, nil }

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
