package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors. Every error returned by a Client method that matches one
// of these wraps it, so callers test with errors.Is. The wrapped text carries
// the server's (or transport's) message, which says what to fix.
var (
	// ErrNotFound means the key does not exist.
	ErrNotFound = errors.New("key not found")
	// ErrInvalidArgument means the request (or the Config) is malformed, for
	// example an empty or oversized key. It is never retried.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNoLeader means the cluster had no leader until the call's deadline,
	// typically during an election or when a quorum is lost.
	ErrNoLeader = errors.New("no leader")
	// ErrOutcomeUnknown means a write may or may not have been applied: an
	// attempt reached the cluster, its result was lost, and the caller's
	// context ended (or the server could no longer deduplicate the write)
	// before a retry under the same request id could find out. The caller
	// must decide, for example by reading the key. The client does not send
	// the write again, and once its next write reaches the cluster the
	// server refuses any late copy of this one.
	ErrOutcomeUnknown = errors.New("write outcome unknown")
	// ErrUnavailable means no member could serve the request in time: they
	// were unreachable, shutting down or overloaded.
	ErrUnavailable = errors.New("cluster unavailable")
	// ErrClosed means the Client was closed.
	ErrClosed = errors.New("client closed")
	// ErrNoQuorum means the cluster has lost its quorum: every member that
	// answered is in degraded mode, so writes and linearizable reads cannot
	// succeed anywhere. The error is a *NoQuorumError naming a node and
	// since when it has had no leader. Stale reads still work (see
	// WithDegradedReads). The client fails such calls promptly instead of
	// retrying until the deadline.
	ErrNoQuorum = errors.New("no quorum")
	// ErrStale means every member refused a stale or bounded read because
	// its data was older than the bound (WithMaxStaleness) or had not caught
	// up with this client's writes (read-your-writes) in time.
	ErrStale = errors.New("every member is too stale for this read")
	// ErrUnknownMember means a membership or leadership call named an id
	// that is not in the cluster's configuration. Nothing was changed.
	ErrUnknownMember = errors.New("no such member")
	// ErrMembershipRefused means the cluster refused a membership or
	// leadership change that conflicts with its configuration (removing the
	// last voter, demoting a voter, handing leadership to a non-voter).
	// Nothing was changed; the message says what to do instead.
	ErrMembershipRefused = errors.New("membership change refused")
	// ErrOverloaded means the leader (or the member asked) refused the
	// request because it already had its limit of requests in flight, and
	// it still did when the call's deadline ran out. Nothing was applied by
	// the refused attempts. Errors wrapping it also wrap ErrUnavailable.
	ErrOverloaded = errors.New("cluster overloaded")
	// ErrUnauthenticated means the cluster requires a bearer token and the
	// call had none (Config.Token) or one it does not know. Not retried.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied means the token's role does not allow the call
	// (read < write < admin). Nothing was done. Not retried.
	ErrPermissionDenied = errors.New("permission denied")
)

// NoQuorumError is returned (possibly wrapped) when a write or a
// linearizable read meets a cluster without quorum. errors.Is(err,
// ErrNoQuorum) reports it; errors.As gives the details.
type NoQuorumError struct {
	// NodeID is the node that answered NO_QUORUM last.
	NodeID string
	// Since is when that node last heard from a leader; the zero Time when
	// it never has since it started (or the server did not say).
	Since time.Time
}

// Error implements error.
func (e *NoQuorumError) Error() string {
	if e.Since.IsZero() {
		return fmt.Sprintf("no quorum: node %s has not seen a leader since it started", e.NodeID)
	}
	return fmt.Sprintf("no quorum: node %s has had no leader since %s",
		e.NodeID, e.Since.UTC().Format(time.RFC3339))
}

// Is reports whether target is ErrNoQuorum.
func (e *NoQuorumError) Is(target error) bool { return target == ErrNoQuorum }

// ErrorInfo reasons sent by the server in the raftkv.io domain (see the rpc
// package's error contract).
const (
	errorDomain          = "raftkv.io"
	reasonNotLeader      = "NOT_LEADER"
	reasonNoLeader       = "NO_LEADER"
	reasonNotProposed    = "NOT_PROPOSED"
	reasonShuttingDown   = "SHUTTING_DOWN"
	reasonOutcomeUnknown = "OUTCOME_UNKNOWN"
	reasonNoQuorum       = "NO_QUORUM"
	reasonStale          = "STALE"
	reasonRequestTooOld  = "REQUEST_TOO_OLD"
	reasonSessionExpired = "SESSION_EXPIRED"
	reasonUnknownMember  = "UNKNOWN_MEMBER"
	reasonRefused        = "MEMBERSHIP_REFUSED"
	reasonOverloaded     = "OVERLOADED"
)

// failure is one failed attempt, decoded from its gRPC status.
type failure struct {
	target     string            // address the attempt was sent to
	code       codes.Code        // gRPC status code
	reason     string            // ErrorInfo reason in errorDomain; "" when absent
	msg        string            // status message
	leaderID   string            // NOT_LEADER hint
	leaderAddr string            // NOT_LEADER hint: the leader's client gRPC address
	md         map[string]string // ErrorInfo metadata (node_id, since, …)
	retryAfter time.Duration     // errdetails.RetryInfo hint; 0 when absent
}

// transport reports whether the failure came from the connection rather
// than from raftkv's server logic: Unavailable with no raftkv ErrorInfo.
func (f failure) transport() bool {
	return f.code == codes.Unavailable && f.reason == ""
}

// classify decodes an RPC error returned by gRPC for an attempt on target.
func classify(target string, err error) failure {
	st := status.Convert(err)
	f := failure{target: target, code: st.Code(), msg: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			// A hint outside 0..maxRetryHint is ignored: a broken or
			// hostile server must not park the client.
			if h := d.GetRetryDelay().AsDuration(); h > 0 && h <= maxRetryHint {
				f.retryAfter = h
			}
		case *errdetails.ErrorInfo:
			if d.GetDomain() != errorDomain || f.reason != "" {
				continue
			}
			f.reason = d.GetReason()
			f.leaderID = d.GetMetadata()["leader_id"]
			f.leaderAddr = d.GetMetadata()["leader_addr"]
			f.md = d.GetMetadata()
		}
	}
	return f
}

// toError turns a failure into the error handed to the caller. It is the one
// place where gRPC statuses become client sentinels. write says whether the
// call was a write; sent says whether the request may have reached a server
// (see invoke for how that is decided).
func (f failure) toError(write, sent bool) error {
	switch f.code {
	case codes.NotFound:
		if f.reason == reasonUnknownMember {
			return withDetail(ErrUnknownMember, f.msg)
		}
		return withDetail(ErrNotFound, f.msg)
	case codes.InvalidArgument:
		return withDetail(ErrInvalidArgument, f.msg)
	case codes.FailedPrecondition:
		switch f.reason {
		case reasonNotLeader:
			return fmt.Errorf("%w: %s is not the leader (leader %q at %q): %s",
				ErrUnavailable, f.target, f.leaderID, f.leaderAddr, f.msg)
		case reasonRefused:
			return withDetail(ErrMembershipRefused, f.msg)
		case reasonRequestTooOld, reasonSessionExpired:
			// The server can no longer tell whether an earlier attempt was
			// applied; this one was not, and the id will never apply now.
			return fmt.Errorf("%w: %s: %s (this attempt was not applied; an earlier one may have been)",
				ErrOutcomeUnknown, f.target, f.msg)
		}
	case codes.Unavailable:
		switch f.reason {
		case reasonNoLeader:
			return fmt.Errorf("%w: %s: %s", ErrNoLeader, f.target, f.msg)
		case reasonNoQuorum:
			return f.noQuorum()
		case reasonStale:
			return fmt.Errorf("%w: %s", ErrStale, f.staleDetail())
		case reasonNotProposed, reasonShuttingDown:
			// Nothing was applied; the caller may retry.
		case "":
			if write && sent {
				return fmt.Errorf("%w: connection to %s failed after the write was sent: %s",
					ErrOutcomeUnknown, f.target, f.msg)
			}
		default: // OUTCOME_UNKNOWN, or a reason this client does not know
			if write {
				return fmt.Errorf("%w: %s: %s (the write may or may not have been applied)",
					ErrOutcomeUnknown, f.target, f.msg)
			}
		}
		return fmt.Errorf("%w: %s: %s", ErrUnavailable, f.target, f.msg)
	case codes.Unauthenticated:
		return withDetail(ErrUnauthenticated, f.msg)
	case codes.PermissionDenied:
		return withDetail(ErrPermissionDenied, f.msg)
	case codes.ResourceExhausted:
		if f.reason == reasonOverloaded {
			return fmt.Errorf("%w: %w: %s: %s", ErrUnavailable, ErrOverloaded, f.target, f.msg)
		}
	case codes.DeadlineExceeded, codes.Canceled:
		ctxErr := context.DeadlineExceeded
		if f.code == codes.Canceled {
			ctxErr = context.Canceled
		}
		if write && sent {
			return fmt.Errorf("%w: %w while waiting for %s (the write may or may not have been applied)",
				ErrOutcomeUnknown, ctxErr, f.target)
		}
		return fmt.Errorf("%w: %s: %s", ctxErr, f.target, f.msg)
	}
	return fmt.Errorf("%s: server error %s: %s", f.target, f.code, f.msg)
}

// noQuorum builds the NoQuorumError of a NO_QUORUM failure. A missing or
// malformed "since" leaves Since zero; a missing node_id names the address.
func (f failure) noQuorum() *NoQuorumError {
	e := &NoQuorumError{NodeID: f.md["node_id"]}
	if e.NodeID == "" {
		e.NodeID = f.target
	}
	if t, err := time.Parse(time.RFC3339Nano, f.md["since"]); err == nil {
		e.Since = t
	}
	return e
}

// staleDetail describes a STALE refusal for an error message.
func (f failure) staleDetail() string {
	node := f.md["node_id"]
	if node == "" {
		node = f.target
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s refused", node)
	if v := f.md["applied_index"]; v != "" {
		fmt.Fprintf(&b, " at applied index %s", v)
	}
	if ms, err := strconv.ParseInt(f.md["last_contact_ms"], 10, 64); err == nil {
		if ms < 0 {
			b.WriteString(", no leader contact since it started")
		} else {
			fmt.Fprintf(&b, ", last leader contact %v ago", time.Duration(ms)*time.Millisecond)
		}
	}
	if f.msg != "" {
		fmt.Fprintf(&b, ": %s", f.msg)
	}
	return b.String()
}

// withDetail wraps sentinel with the server's message, without repeating the
// sentinel's own words when the server already starts with them.
func withDetail(sentinel error, msg string) error {
	msg = strings.TrimPrefix(strings.TrimPrefix(msg, sentinel.Error()), ": ")
	if msg == "" {
		return sentinel
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}
