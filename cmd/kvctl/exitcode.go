package main

import (
	"context"
	"errors"

	"github.com/raftkv/raftkv/client"
)

// Exit codes of kvctl. They are part of its interface: scripts rely on them,
// and exitCodesHelp (shown by `kvctl --help` and copied into the README)
// documents them.
const (
	exitOK             = 0 // success
	exitError          = 1 // any other error
	exitUsage          = 2 // bad flags or arguments, or a request the server rejected as invalid
	exitNotFound       = 3 // the key does not exist
	exitUnavailable    = 4 // no leader, no quorum, too stale, timeout, or members unreachable
	exitOutcomeUnknown = 5 // a write may or may not have been applied
	exitCondition      = 6 // a conditional write (cas, --mod-index) found the key otherwise
	exitRefused        = 7 // the cluster refused a membership or leadership change
)

// exitCodesHelp documents the exit codes for `kvctl --help` and the README.
const exitCodesHelp = `Exit codes:
  0  success
  1  other error
  2  usage error or invalid argument (bad flag or arguments, invalid key or value)
  3  key not found, or no member with that id (member, leader transfer)
  4  cluster unavailable: no leader, no quorum (writes and linearizable
     reads are refused while a majority is down; stale reads still work),
     every member too stale for a bounded read, timeout, or members
     unreachable; for "cluster status": at least one member did not answer
  5  write outcome unknown: the write may or may not have been applied (the
     command timed out while kvctl was still retrying it), so read the key
     back before writing it again
  6  condition failed: "cas" found another value, or "put/del --mod-index"
     another mod index (or the key missing or present); nothing was written
  7  membership change refused: it conflicts with the configuration
     (removing the last voter, demoting a voter, transferring leadership
     to a non-voter); nothing was changed`

// conditionError reports a conditional write whose condition did not hold.
// It is not a client error (the client returns such outcomes as values);
// kvctl makes it one so that scripts see exit code 6.
type conditionError struct{ msg string }

// Error implements error.
func (e conditionError) Error() string { return "condition failed: " + e.msg }

// usageError marks an error caused by how kvctl was invoked.
type usageError struct{ err error }

// Error implements error.
func (e usageError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e usageError) Unwrap() error { return e.err }

// exitCode maps an error returned by a command to kvctl's exit code. It is
// the only place where errors become exit codes. ErrOutcomeUnknown is tested
// first: a write caught by the timeout in flight wraps both it and
// context.DeadlineExceeded, and "may have been applied" is what matters.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, client.ErrOutcomeUnknown):
		return exitOutcomeUnknown
	case errors.As(err, new(conditionError)):
		return exitCondition
	case errors.Is(err, client.ErrInvalidArgument):
		return exitUsage
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrUnknownMember):
		return exitNotFound
	case errors.Is(err, client.ErrMembershipRefused):
		return exitRefused
	case errors.Is(err, client.ErrNoLeader),
		errors.Is(err, client.ErrNoQuorum),
		errors.Is(err, client.ErrStale),
		errors.Is(err, client.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	default:
		return exitError
	}
}
