package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/raftkv/raftkv/client"
)

// Error codes of the JSON error body {"code": ..., "message": ...}. They
// are part of the API (listed in the OpenAPI document): clients switch on
// the code, and read the message.
const (
	codeInvalidArgument  = "INVALID_ARGUMENT"  // 400
	codeUnauthenticated  = "UNAUTHENTICATED"   // 401
	codePermissionDenied = "PERMISSION_DENIED" // 403
	codeNotFound         = "NOT_FOUND"         // 404
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codeCASMismatch      = "CAS_MISMATCH"   // 409
	codeBodyTooLarge     = "BODY_TOO_LARGE" // 413
	codeRateLimited      = "RATE_LIMITED"   // 429
	codeInternal         = "INTERNAL"       // 500
	codeOutcomeUnknown   = "OUTCOME_UNKNOWN"
	codeNoQuorum         = "NO_QUORUM" // 503
	codeNoLeader         = "NO_LEADER"
	codeStale            = "STALE"
	codeUnavailable      = "UNAVAILABLE"
	codeShuttingDown     = "SHUTTING_DOWN"
	codeDeadlineExceeded = "DEADLINE_EXCEEDED" // 504
	codeCanceled         = "CANCELED"          // 499, never seen by the client
)

// statusClientClosed is nginx's 499: the client went away before the
// answer. It appears only in the access log and the metrics.
const statusClientClosed = 499

// Retry-After hints for 503s. A lost quorum usually takes an operator (or a
// node restart) to fix, so clients are told to wait longer than for an
// election.
const (
	retryAfterTransient = time.Second
	retryAfterNoQuorum  = 5 * time.Second
)

// apiError is an error answer: an HTTP status, a code, a message safe to
// show the caller and an optional Retry-After.
type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter time.Duration // 0: no Retry-After header
	challenge  string        // WWW-Authenticate (RFC 6750 §3) of 401s and 403s
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

// errorBody is the JSON of every error answer.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidArgument, msg: fmt.Sprintf(format, args...)}
}

// errCASMismatch is what the handlers fail with when a ?cas= condition did
// not hold (the client reports a mismatch as a result, not an error).
var errCASMismatch = errors.New("cas mismatch")

// toAPIError is the one table from backend errors to HTTP answers. The
// order matters: a write whose outcome is unknown because the deadline
// caught it in flight wraps both ErrOutcomeUnknown and DeadlineExceeded,
// and must be reported as unknown.
//
//	error                               status  code              Retry-After
//	client.ErrNotFound                  404     NOT_FOUND
//	client.ErrInvalidArgument           400     INVALID_ARGUMENT
//	CAS mismatch                        409     CAS_MISMATCH
//	client.ErrOutcomeUnknown + deadline 504     OUTCOME_UNKNOWN
//	client.ErrOutcomeUnknown            502     OUTCOME_UNKNOWN
//	client.ErrNoQuorum                  503     NO_QUORUM         5
//	client.ErrStale                     503     STALE             1
//	client.ErrNoLeader                  503     NO_LEADER         1
//	client.ErrUnavailable               503     UNAVAILABLE       1
//	client.ErrClosed                    503     SHUTTING_DOWN     1
//	context.DeadlineExceeded            504     DEADLINE_EXCEEDED
//	context.Canceled                    499     CANCELED
//	anything else                       500     INTERNAL          (logged)
//
// The client makes writes exactly-once: it resends a write whose answer was
// lost, under the same request id, to the new leader. So OUTCOME_UNKNOWN
// reaches the gateway only when that could not be settled: mostly because
// the request timeout ran out (504), or because the cluster no longer held
// the request's record (502). It is a 502 rather than a 503 on purpose:
// load balancers and HTTP clients treat 503 as "not processed, safe to
// retry", and this write may have been applied. An unconditional PUT or
// DELETE may still be sent again by the caller (the end state is the
// same); a ?cas= write must be re-read first.
func toAPIError(err error) *apiError {
	var ae *apiError
	var nq *client.NoQuorumError
	msg := err.Error()
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, client.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: codeNotFound, msg: msg}
	case errors.Is(err, client.ErrInvalidArgument):
		return &apiError{status: http.StatusBadRequest, code: codeInvalidArgument, msg: msg}
	case errors.Is(err, errCASMismatch):
		return &apiError{status: http.StatusConflict, code: codeCASMismatch, msg: msg}
	case errors.Is(err, client.ErrOutcomeUnknown) && errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusGatewayTimeout, code: codeOutcomeUnknown, msg: msg}
	case errors.Is(err, client.ErrOutcomeUnknown):
		return &apiError{status: http.StatusBadGateway, code: codeOutcomeUnknown, msg: msg}
	case errors.As(err, &nq), errors.Is(err, client.ErrNoQuorum):
		return &apiError{status: http.StatusServiceUnavailable, code: codeNoQuorum, msg: msg, retryAfter: retryAfterNoQuorum}
	case errors.Is(err, client.ErrStale):
		return &apiError{status: http.StatusServiceUnavailable, code: codeStale, msg: msg, retryAfter: retryAfterTransient}
	case errors.Is(err, client.ErrNoLeader):
		return &apiError{status: http.StatusServiceUnavailable, code: codeNoLeader, msg: msg, retryAfter: retryAfterTransient}
	case errors.Is(err, client.ErrUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, msg: msg, retryAfter: retryAfterTransient}
	case errors.Is(err, client.ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, code: codeShuttingDown, msg: "the gateway is shutting down", retryAfter: retryAfterTransient}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusGatewayTimeout, code: codeDeadlineExceeded, msg: msg}
	case errors.Is(err, context.Canceled):
		return &apiError{status: statusClientClosed, code: codeCanceled, msg: msg}
	}
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: "internal error"}
}

// writeError sends e as the JSON error body.
func writeError(w http.ResponseWriter, e *apiError) {
	if sw, ok := w.(*statusWriter); ok {
		sw.code = e.code // for the access log
	}
	h := w.Header()
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.retryAfter)))
	}
	if e.challenge != "" {
		h.Set("WWW-Authenticate", e.challenge)
	}
	writeJSONStatus(w, e.status, errorBody{Code: e.code, Message: e.msg})
}

// writeJSONStatus sends v as JSON with status.
func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client may have gone; nothing else to do
}
