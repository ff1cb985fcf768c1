package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// Role is what a token may do. Each role includes the ones below it.
type Role int

const (
	// RoleRead may read keys and the cluster's members and status.
	RoleRead Role = iota + 1
	// RoleWrite may also write and delete keys.
	RoleWrite
	// RoleAdmin may also change the cluster (Join) and reload the
	// gateway's token file over HTTP.
	RoleAdmin
)

// String returns "read", "write" or "admin".
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool { return r >= RoleRead && r <= RoleAdmin }

// ParseRole parses "read", "write" or "admin".
func ParseRole(s string) (Role, error) {
	for r := RoleRead; r <= RoleAdmin; r++ {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q (want read, write or admin)", s)
}

// MinTokenBytes is the shortest token a token file may hold: bearer tokens
// must be unguessable, and a short one is a configuration mistake.
const MinTokenBytes = 16

// Identity is who a request acts as.
type Identity struct {
	// Name is the token's name from the token file ("" if it has none);
	// not secret.
	Name string
	// Role is what the token may do.
	Role Role
	// ID names the token in logs: the first 12 hex digits of its SHA-256,
	// or "-" when auth is off. It is safe to log for an unguessable token.
	ID string
}

// TokenSet is one loaded token file: tokens by their SHA-256, and the
// per-token rate limit of each role (enforced by the gateway; the gRPC API
// does not rate-limit per token). It is immutable once built and safe for
// concurrent use.
type TokenSet struct {
	byHash    map[[sha256.Size]byte]Identity
	limits    map[Role]Limit
	plaintext int // tokens given in clear rather than as a sha256
}

// Lookup returns the identity of a presented bearer token.
func (ts *TokenSet) Lookup(token string) (Identity, bool) {
	id, ok := ts.byHash[sha256.Sum256([]byte(token))]
	return id, ok
}

// Limit returns the per-token limit of role.
func (ts *TokenSet) Limit(role Role) Limit { return ts.limits[role] }

// Plaintext is the number of tokens the file gave in clear rather than as
// a SHA-256; a file holding any should not be readable by others.
func (ts *TokenSet) Plaintext() int { return ts.plaintext }

// Len is the number of tokens.
func (ts *TokenSet) Len() int { return len(ts.byHash) }

// tokenFile is the JSON of a token file:
//
//	{
//	  "roles": {
//	    "read":  {"rate": 50, "burst": 100},
//	    "write": {"rate": 20},
//	    "admin": {"unlimited": true}
//	  },
//	  "tokens": [
//	    {"name": "dashboard", "role": "read",  "sha256": "<64 hex digits>"},
//	    {"name": "orders",    "role": "write", "token": "<the secret itself>"}
//	  ]
//	}
//
// "roles" is optional, and so is each role in it: a role it leaves out gets
// the gateway's default (Config.RoleLimits). "rate" is in requests per
// second; "burst" defaults to twice the rate (at least 1). Each token gives
// either "token" (at least MinTokenBytes characters of RFC 6750's token68
// alphabet) or "sha256", the hex SHA-256 of the token (`printf %s "$T" |
// sha256sum`), which keeps the secret out of the file. Unknown fields are
// errors, so a typo does not silently drop a limit.
type tokenFile struct {
	Roles  map[string]roleLimitJSON `json:"roles"`
	Tokens []tokenJSON              `json:"tokens"`
}

type roleLimitJSON struct {
	Rate      *float64 `json:"rate"`
	Burst     *int     `json:"burst"`
	Unlimited bool     `json:"unlimited"`
}

type tokenJSON struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Token  string `json:"token"`
	SHA256 string `json:"sha256"`
}

// LoadTokenFile reads and parses the token file at path (see ParseTokens).
func LoadTokenFile(path string, defaults map[Role]Limit) (*TokenSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	ts, err := ParseTokens(bytes.NewReader(b), defaults)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return ts, nil
}

// ParseTokens parses a token file (format: see the tokenFile type in
// tokens.go and the README). defaults are the per-token limits of roles the
// file does not set; a role missing from defaults too is NoLimit. Errors
// never quote a token.
func ParseTokens(r io.Reader, defaults map[Role]Limit) (*TokenSet, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f tokenFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse: trailing data after the JSON object")
	}
	ts := &TokenSet{byHash: make(map[[sha256.Size]byte]Identity), limits: make(map[Role]Limit)}
	for r := RoleRead; r <= RoleAdmin; r++ {
		ts.limits[r] = NoLimit
		if l, ok := defaults[r]; ok {
			ts.limits[r] = l
		}
	}
	for name, rl := range f.Roles {
		role, err := ParseRole(name)
		if err != nil {
			return nil, fmt.Errorf("roles: %w", err)
		}
		l, err := rl.limit()
		if err != nil {
			return nil, fmt.Errorf("roles: %s: %w", name, err)
		}
		ts.limits[role] = l
	}
	names := map[string]bool{}
	for i, t := range f.Tokens {
		where := fmt.Sprintf("tokens[%d]", i)
		if t.Name != "" {
			where = fmt.Sprintf("tokens[%d] (%q)", i, t.Name)
			if names[t.Name] {
				return nil, fmt.Errorf("%s: duplicate name", where)
			}
			names[t.Name] = true
		}
		role, err := ParseRole(t.Role)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		var sum [sha256.Size]byte
		switch {
		case t.Token != "" && t.SHA256 != "":
			return nil, fmt.Errorf("%s: give either token or sha256, not both", where)
		case t.Token != "":
			if err := checkToken(t.Token); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			sum = sha256.Sum256([]byte(t.Token))
			ts.plaintext++
		case t.SHA256 != "":
			b, err := hex.DecodeString(strings.ToLower(t.SHA256))
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("%s: sha256 must be %d hex digits", where, 2*sha256.Size)
			}
			copy(sum[:], b)
		default:
			return nil, fmt.Errorf("%s: token or sha256 is required", where)
		}
		if _, dup := ts.byHash[sum]; dup {
			return nil, fmt.Errorf("%s: the same token appears twice", where)
		}
		ts.byHash[sum] = Identity{Name: t.Name, Role: role, ID: hex.EncodeToString(sum[:6])}
	}
	return ts, nil
}

func (rl roleLimitJSON) limit() (Limit, error) {
	if rl.Unlimited {
		if rl.Rate != nil || rl.Burst != nil {
			return Limit{}, fmt.Errorf("unlimited excludes rate and burst")
		}
		return NoLimit, nil
	}
	if rl.Rate == nil {
		return Limit{}, fmt.Errorf("rate (requests per second) or unlimited is required")
	}
	l := Limit{Rate: *rl.Rate, Burst: max(1, int(math.Ceil(2**rl.Rate)))}
	if rl.Burst != nil {
		l.Burst = *rl.Burst
	}
	if math.IsInf(l.Rate, 0) {
		return Limit{}, fmt.Errorf("rate must be finite; use unlimited")
	}
	return l, l.Validate()
}

// checkToken enforces the length and the alphabet of a bearer token
// (RFC 6750 b64token: letters, digits and -._~+/ with trailing =).
func checkToken(tok string) error {
	if len(tok) < MinTokenBytes {
		return fmt.Errorf("token is %d characters; at least %d are required", len(tok), MinTokenBytes)
	}
	if !isToken68(tok) {
		return fmt.Errorf("token has characters outside A-Z a-z 0-9 - . _ ~ + / (and trailing =)")
	}
	return nil
}

// isToken68 reports whether s matches RFC 6750's b64token.
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~+/", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// header or gRPC "authorization" metadata value (the scheme is
// case-insensitive, RFC 9110 §11.1).
func BearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// LoadNodeToken reads a file holding one bearer token (surrounding
// whitespace ignored), as used by a node for its own calls to peers. The
// token is checked like a token-file entry; errors never quote it.
func LoadNodeToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read node token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if err := checkToken(tok); err != nil {
		return "", fmt.Errorf("node token file %s: %w", path, err)
	}
	return tok, nil
}

// Limit is a token bucket: Rate requests per second on average, with
// bursts of up to Burst. The zero Limit means "use the default"; NoLimit
// means unlimited.
type Limit struct {
	// Rate is the sustained rate in requests per second; +Inf is unlimited.
	Rate float64
	// Burst is the bucket size, at least 1 for a finite Rate.
	Burst int
}

// NoLimit lets every request through.
var NoLimit = Limit{Rate: math.Inf(1)}

// Unlimited reports whether l lets every request through.
func (l Limit) Unlimited() bool { return math.IsInf(l.Rate, 1) }

// String formats l for logs: "100/s burst 200" or "unlimited".
func (l Limit) String() string {
	if l.Unlimited() {
		return "unlimited"
	}
	return fmt.Sprintf("%g/s burst %d", l.Rate, l.Burst)
}

// Validate reports whether l is usable: unlimited, or a positive rate
// with a burst of at least 1.
func (l Limit) Validate() error {
	switch {
	case l.Unlimited():
		return nil
	case math.IsNaN(l.Rate) || l.Rate <= 0:
		return fmt.Errorf("rate must be positive, got %g", l.Rate)
	case l.Burst < 1:
		return fmt.Errorf("burst must be at least 1, got %d", l.Burst)
	}
	return nil
}
