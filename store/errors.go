package store

import "errors"

// Errors returned by the store. Test for them with errors.Is: most are
// wrapped with context that names the key length, index or limit involved.
var (
	// ErrNotFound is returned by Get when the key does not exist.
	ErrNotFound = errors.New("key not found")

	// ErrInvalidArgument is returned, wrapped with a message naming the
	// limit, when a key, value, prefix or node id is out of bounds. Apply
	// reports it in Result.Err (never as its error) for a command that
	// slipped past validation.
	ErrInvalidArgument = errors.New("invalid argument")

	// ErrCorruptEntry is returned by Apply for a log entry that cannot be
	// decoded, has an unknown format or holds an unknown operation. It is
	// fatal: applying past such an entry would let replicas diverge, so the
	// node must stop.
	ErrCorruptEntry = errors.New("corrupt log entry")

	// ErrClosed is returned by every operation on a closed store, and by
	// Snapshot.WriteTo after Release.
	ErrClosed = errors.New("store closed")

	// ErrInvalidSnapshot is returned, wrapped, by Restore when the stream is
	// not a well-formed raftkv snapshot (bad magic, unsupported format,
	// checksum mismatch, truncation). The current database is left as it
	// was.
	ErrInvalidSnapshot = errors.New("invalid snapshot")
)
