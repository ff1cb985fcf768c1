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

	// ErrRequestTooOld is reported in Result.Err for an exactly-once
	// request whose seq is below the lowest one the store still remembers
	// for its client (the client acknowledged it, or its result was evicted
	// to keep the table bounded). The request was not applied; an earlier
	// copy of it may have been.
	ErrRequestTooOld = errors.New("request too old to deduplicate")

	// ErrSessionExpired is reported in Result.Err for an exactly-once
	// request whose client session was evicted (the table keeps at most
	// MaxSessions clients). The request was not applied; an earlier copy of
	// it may have been. The client must continue under a new client id.
	ErrSessionExpired = errors.New("client session expired")

	// ErrInvalidSnapshot is returned, wrapped, by Restore when the stream is
	// not a well-formed raftkv snapshot (bad magic, unsupported format,
	// checksum mismatch, truncation). The current database is left as it
	// was.
	ErrInvalidSnapshot = errors.New("invalid snapshot")
)
