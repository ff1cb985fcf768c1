package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/raftkv/raftkv/auth"
)

// authorizationKey is the gRPC metadata key of the bearer token.
const authorizationKey = "authorization"

// Sentinels of the auth check, mapped by toStatus.
var (
	// errUnauthenticated: no token, or a token not in the token file.
	errUnauthenticated = errors.New("unauthenticated")
	// errPermissionDenied: the token's role does not allow the method.
	errPermissionDenied = errors.New("permission denied")
)

// methodRole is the role a method needs; 0 means none (health checks and
// reflection stay open so probes and tools work without a token). Methods
// of the raftkv services not listed need admin, so a new method is closed
// until someone decides otherwise.
func methodRole(fullMethod string) auth.Role {
	switch fullMethod {
	case "/kv.v1.KV/Get", "/kv.v1.KV/List", "/kv.v1.Cluster/Members", "/kv.v1.Cluster/Status":
		return auth.RoleRead
	case "/kv.v1.KV/Put", "/kv.v1.KV/Delete", "/kv.v1.KV/CompareAndSwap":
		return auth.RoleWrite
	}
	if strings.HasPrefix(fullMethod, "/kv.v1.") {
		return auth.RoleAdmin // Join and any later membership change
	}
	return 0
}

// SetTokens puts a token set in force for later calls; nil turns auth off.
// It is safe to call while serving (kvd calls it on SIGHUP).
func (s *Server) SetTokens(ts *auth.TokenSet) { s.tokens.Store(ts) }

// authorize checks the caller's bearer token against the token set in
// force, when there is one. A forwarded request carries the original
// caller's token, so the leader checks it again. Tokens are never logged
// or echoed; the token's hash prefix (Identity.ID) is logged at Debug.
func (s *Server) authorize(ctx context.Context, fullMethod string) error {
	ts := s.tokens.Load()
	if ts == nil {
		return nil
	}
	need := methodRole(fullMethod)
	if need == 0 {
		return nil
	}
	tok, ok := incomingToken(ctx)
	if !ok {
		return fmt.Errorf("%w: missing bearer token: send metadata \"authorization: Bearer <token>\"", errUnauthenticated)
	}
	id, ok := ts.Lookup(tok)
	if !ok {
		return fmt.Errorf("%w: unknown bearer token", errUnauthenticated)
	}
	if id.Role < need {
		s.log.Debug("permission denied", "method", fullMethod, "token_id", id.ID, "role", id.Role.String())
		return fmt.Errorf("%w: this token's role (%s) may not call %s; it needs %s", errPermissionDenied, id.Role, fullMethod, need)
	}
	return nil
}

// incomingToken returns the bearer token of the call's metadata.
func incomingToken(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get(authorizationKey) {
		if tok, ok := auth.BearerToken(v); ok {
			return tok, true
		}
	}
	return "", false
}

// withCallerAuth copies the incoming call's authorization metadata to the
// outgoing context of a forwarded call, so the leader sees who asked. A
// call without incoming metadata did not arrive over gRPC (every gRPC call
// carries some): it is one the node makes to its own API, such as leaving
// the cluster, and it is forwarded with the node's own token.
func (s *Server) withCallerAuth(ctx context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return s.withNodeAuth(ctx)
	}
	for _, v := range md.Get(authorizationKey) {
		ctx = metadata.AppendToOutgoingContext(ctx, authorizationKey, v)
	}
	return ctx
}

// withNodeAuth adds this node's own token (Config.NodeToken) to a call the
// node makes for itself, such as self-registration.
func (s *Server) withNodeAuth(ctx context.Context) context.Context {
	if s.cfg.NodeToken == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, authorizationKey, "Bearer "+s.cfg.NodeToken)
}
