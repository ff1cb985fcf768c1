package client

import (
	"context"

	"google.golang.org/grpc/credentials"
)

// bearerCreds sends Config.Token as "authorization: Bearer <token>" on
// every call (gRPC per-RPC credentials).
type bearerCreds struct {
	token string
}

var _ credentials.PerRPCCredentials = bearerCreds{}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. It
// returns false so that a token can be used over the plaintext transport
// the client dials today (local development, or a trusted network); over
// an untrusted network the token travels in clear.
func (bearerCreds) RequireTransportSecurity() bool { return false }
