package gateway

import (
	"io"

	"github.com/raftkv/raftkv/auth"
)

// The token model lives in package auth, which the gRPC API shares; these
// aliases keep the gateway's API unchanged.
type (
	// Role is what a token may do (auth.Role).
	Role = auth.Role
	// Identity is who a request acts as (auth.Identity).
	Identity = auth.Identity
	// TokenSet is one loaded token file (auth.TokenSet).
	TokenSet = auth.TokenSet
	// Limit is a token bucket (auth.Limit).
	Limit = auth.Limit
)

// Roles (auth.RoleRead, auth.RoleWrite, auth.RoleAdmin).
const (
	// RoleRead may read keys (GET /v1/kv) and the cluster status.
	RoleRead = auth.RoleRead
	// RoleWrite may also write and delete keys.
	RoleWrite = auth.RoleWrite
	// RoleAdmin may also reload the token file over HTTP.
	RoleAdmin = auth.RoleAdmin
)

// MinTokenBytes is the shortest token a token file may hold.
const MinTokenBytes = auth.MinTokenBytes

// NoLimit lets every request through.
var NoLimit = auth.NoLimit

// ParseRole parses "read", "write" or "admin".
func ParseRole(s string) (Role, error) { return auth.ParseRole(s) }

// LoadTokenFile reads and parses the token file at path (see ParseTokens).
func LoadTokenFile(path string, defaults map[Role]Limit) (*TokenSet, error) {
	return auth.LoadTokenFile(path, roleLimits(defaults))
}

// ParseTokens parses a token file (format: auth's tokenFile and the
// README). defaults are the per-token limits of roles the file does not
// set; roles missing from defaults get DefaultRoleLimits. Errors never
// quote a token.
func ParseTokens(r io.Reader, defaults map[Role]Limit) (*TokenSet, error) {
	return auth.ParseTokens(r, roleLimits(defaults))
}

// roleLimits is DefaultRoleLimits overridden by defaults.
func roleLimits(defaults map[Role]Limit) map[Role]Limit {
	out := make(map[Role]Limit, len(DefaultRoleLimits))
	for r, l := range DefaultRoleLimits {
		out[r] = l
	}
	for r, l := range defaults {
		out[r] = l
	}
	return out
}
