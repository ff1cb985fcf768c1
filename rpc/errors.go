package rpc

import (
	"context"
	"errors"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/store"
)

// ErrorDomain is the ErrorInfo domain of every status this package returns
// with a machine-readable reason.
const ErrorDomain = "raftkv.io"

// Reasons carried in errdetails.ErrorInfo. Clients switch on these, so they
// never change meaning.
const (
	// ReasonNotLeader: the node is not the leader; nothing was proposed.
	// Metadata carries leader_id and leader_addr (client gRPC address).
	ReasonNotLeader = "NOT_LEADER"
	// ReasonNoLeader: no leader is known; retry after a backoff.
	ReasonNoLeader = "NO_LEADER"
	// ReasonNotProposed: the request never entered the log; safe to retry.
	ReasonNotProposed = "NOT_PROPOSED"
	// ReasonOutcomeUnknown: a write may or may not have been applied.
	ReasonOutcomeUnknown = "OUTCOME_UNKNOWN"
	// ReasonShuttingDown: the node is stopping; try another node.
	ReasonShuttingDown = "SHUTTING_DOWN"
	// ReasonNoQuorum: the node has lost contact with a quorum (degraded);
	// writes and linearizable reads cannot succeed there. Metadata carries
	// node_id and since (RFC 3339, when it last heard from a leader).
	ReasonNoQuorum = "NO_QUORUM"
	// ReasonRequestTooOld: an exactly-once write whose seq is below the
	// lowest the server still remembers for its client. This request was
	// not applied; an earlier copy of it may have been. Not retryable under
	// the same request id.
	ReasonRequestTooOld = "REQUEST_TOO_OLD"
	// ReasonSessionExpired: an exactly-once write from a client whose
	// session the server has evicted. This request was not applied; an
	// earlier copy of it may have been. The client must continue under a
	// new client id.
	ReasonSessionExpired = "SESSION_EXPIRED"
	// ReasonUnknownMember: a membership or leadership request named an id
	// that is not in the configuration (NotFound).
	ReasonUnknownMember = "UNKNOWN_MEMBER"
	// ReasonMembershipRefused: a membership or leadership change conflicts
	// with the configuration (FailedPrecondition): removing the last voter,
	// demoting a voter, handing leadership to a non-voter. Nothing changed.
	ReasonMembershipRefused = "MEMBERSHIP_REFUSED"
	// ReasonStale: a bounded or read-your-writes read was refused because
	// the node's data may be too old; try another node or the leader.
	// Metadata carries node_id, applied_index and last_contact_ms.
	ReasonStale = "STALE"
	// ReasonOverloaded: the node already handles its limit of writes or
	// reads (code ResourceExhausted). Nothing was done; retry after the
	// errdetails.RetryInfo delay, with backoff.
	ReasonOverloaded = "OVERLOADED"
)

// staleReadError refuses a BOUNDED or min_index read.
type staleReadError struct {
	applied     uint64
	lastContact time.Duration // -1: never
	why         string
}

func (e *staleReadError) Error() string {
	return "stale read refused: " + e.why
}

// errNotForwardable is returned when a follower cannot forward a request
// because it does not know the leader's client address yet.
var errNotForwardable = errors.New("leader's client address is not known yet")

// errNotRegistered says self-registration has not succeeded yet.
var errNotRegistered = errors.New("node address not registered yet")

// LeaderAddrFunc resolves a leader id to its client gRPC address ("" when
// unknown). toStatus uses it to put a usable hint into NOT_LEADER errors.
type LeaderAddrFunc func(id raftnode.NodeID) string

// toStatus is the one place where domain errors become gRPC statuses (the
// table in STYLE.md §3.5). Errors that already are statuses (for example
// from a forwarded call) pass through unchanged. The second result is false
// for errors that map to Internal, which the caller logs.
func toStatus(err error, nodeID string, leaderAddr LeaderAddrFunc) (error, bool) {
	if err == nil {
		return nil, true
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		if st := status.Convert(err); st.Code() != codes.Unknown {
			return err, true
		}
	}
	var nle *raftnode.NotLeaderError
	var nqe *raftnode.NoQuorumError
	var sre *staleReadError
	var ovl *overloadedError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error()), true
	case errors.Is(err, errUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error()), true
	case errors.Is(err, errPermissionDenied):
		return status.Error(codes.PermissionDenied, err.Error()), true
	case errors.Is(err, store.ErrInvalidArgument), errors.Is(err, raftnode.ErrInvalidArgument):
		return status.Error(codes.InvalidArgument, err.Error()), true
	case errors.Is(err, raftnode.ErrUnknownMember):
		return withReason(codes.NotFound, err.Error(), ReasonUnknownMember, nil), true
	case errors.Is(err, raftnode.ErrMembershipRefused):
		return withReason(codes.FailedPrecondition, err.Error(), ReasonMembershipRefused, nil), true
	case errors.Is(err, store.ErrRequestTooOld):
		return withReason(codes.FailedPrecondition, err.Error(), ReasonRequestTooOld, nil), true
	case errors.Is(err, store.ErrSessionExpired):
		return withReason(codes.FailedPrecondition, err.Error(), ReasonSessionExpired, nil), true
	case errors.As(err, &nle):
		addr := ""
		if leaderAddr != nil {
			addr = leaderAddr(nle.LeaderID)
		}
		return withReason(codes.FailedPrecondition, err.Error(), ReasonNotLeader, map[string]string{
			"leader_id":   string(nle.LeaderID),
			"leader_addr": addr,
		}), true
	case errors.As(err, &nqe):
		return withReason(codes.Unavailable, err.Error(), ReasonNoQuorum, map[string]string{
			"node_id": nodeID,
			"since":   nqe.Since.UTC().Format(time.RFC3339Nano),
		}), true
	case errors.As(err, &sre):
		return withReason(codes.Unavailable, err.Error(), ReasonStale, map[string]string{
			"node_id":         nodeID,
			"applied_index":   strconv.FormatUint(sre.applied, 10),
			"last_contact_ms": strconv.FormatInt(lastContactMillis(sre.lastContact), 10),
		}), true
	case errors.As(err, &ovl):
		return withRetry(withReason(codes.ResourceExhausted, err.Error(), ReasonOverloaded, map[string]string{
			"node_id": nodeID,
			"limit":   strconv.Itoa(ovl.limit),
		}), ovl.retryAfter), true
	case errors.Is(err, raftnode.ErrNotLeader), errors.Is(err, raftnode.ErrNoLeader), errors.Is(err, errNotForwardable):
		return withReason(codes.Unavailable, err.Error(), ReasonNoLeader, nil), true
	case errors.Is(err, raftnode.ErrNotProposed):
		return withReason(codes.Unavailable, err.Error(), ReasonNotProposed, nil), true
	// Outcome-unknown is checked before the context errors: raftnode wraps
	// both when a deadline expires after the entry was handed to raft, and
	// the caller must learn that the write may have happened.
	case errors.Is(err, raftnode.ErrOutcomeUnknown):
		return withReason(codes.Unavailable, err.Error(), ReasonOutcomeUnknown, nil), true
	case errors.Is(err, raftnode.ErrShutdown), errors.Is(err, store.ErrClosed):
		return withReason(codes.Unavailable, err.Error(), ReasonShuttingDown, nil), true
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error()), true
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error()), true
	default:
		return status.Error(codes.Internal, err.Error()), false
	}
}

// withReason builds a status carrying an errdetails.ErrorInfo.
func withReason(code codes.Code, msg, reason string, md map[string]string) error {
	st := status.New(code, msg)
	if withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// withRetry adds an errdetails.RetryInfo hint to a status error.
func withRetry(err error, after time.Duration) error {
	st := status.Convert(err)
	if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(after)}); derr == nil {
		return withInfo.Err()
	}
	return err
}

// reasonOf returns the ErrorInfo reason of a status error, or "".
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}
