// Package auth holds raftkv's bearer-token model, shared by the HTTP
// gateway and the gRPC API: roles (read < write < admin), the token file
// (tokens by SHA-256, so the file need not hold secrets, plus per-role rate
// limits that the gateway enforces) and bearer-header parsing.
//
// It imports only the standard library: no gRPC, HTTP framework, raft or
// storage code, so both the gateway and the server can use it without
// pulling in each other. Nothing here logs; errors never quote a token.
package auth
