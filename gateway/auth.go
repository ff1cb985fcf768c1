package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/raftkv/raftkv/auth"
)

// guard runs the checks of a protected route, in this order, and returns
// the first refusal:
//
//  1. the client IP's bucket (429): before the token is looked at, so that
//     guessing tokens is slow too;
//  2. authentication (401, with WWW-Authenticate): a bearer token is
//     required and must be in the token file;
//  3. the token's bucket, sized by its role (429);
//  4. authorization (403): the token's role must include need.
//
// Refusals are counted; none of them logs or echoes the token.
func (g *Gateway) guard(r *http.Request, need Role, info *reqInfo) *apiError {
	now := time.Now()
	ip := clientIP(r, g.cfg.TrustedProxies)
	info.client = ip.String()
	if d := g.ipLim.reserve(ipKey(ip), g.cfg.IPLimit, now); d > 0 {
		g.m.rateLimited.WithLabelValues("ip").Inc()
		return rateLimited("client address", d)
	}
	ident, ts, e := g.authenticate(r)
	if e != nil {
		return e
	}
	info.ident = ident
	if ts != nil {
		if d := g.tokLim.reserve(ident.ID, ts.Limit(ident.Role), now); d > 0 {
			g.m.rateLimited.WithLabelValues("token").Inc()
			return rateLimited("token", d)
		}
	}
	if ident.Role < need {
		g.m.authFailures.WithLabelValues("forbidden").Inc()
		return &apiError{status: http.StatusForbidden, code: codePermissionDenied,
			msg:       "this token's role (" + ident.Role.String() + ") may not do this; it needs " + need.String(),
			challenge: `Bearer realm="raftkv", error="insufficient_scope"`}
	}
	return nil
}

func rateLimited(scope string, wait time.Duration) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: codeRateLimited, retryAfter: wait,
		msg: "rate limit of this " + scope + " exceeded; retry in " + strconv.Itoa(retryAfterSeconds(wait)) + "s"}
}

// authenticate returns the identity of r's bearer token and the token set
// it was found in (nil when auth is off).
func (g *Gateway) authenticate(r *http.Request) (Identity, *TokenSet, *apiError) {
	ts := g.tokens.Load()
	if ts == nil {
		return g.anonymous, nil, nil
	}
	tok, ok := auth.BearerToken(r.Header.Get("Authorization"))
	if !ok {
		g.m.authFailures.WithLabelValues("missing").Inc()
		return Identity{}, nil, &apiError{status: http.StatusUnauthorized, code: codeUnauthenticated,
			msg: "missing bearer token: send Authorization: Bearer <token>", challenge: `Bearer realm="raftkv"`}
	}
	ident, found := ts.Lookup(tok)
	if !found {
		g.m.authFailures.WithLabelValues("invalid").Inc()
		return Identity{}, nil, &apiError{status: http.StatusUnauthorized, code: codeUnauthenticated,
			msg: "unknown bearer token", challenge: `Bearer realm="raftkv", error="invalid_token"`}
	}
	return ident, ts, nil
}

// reloadJSON is the answer of POST /v1/admin/reload.
type reloadJSON struct {
	Tokens int `json:"tokens"`
}

// serveReload reloads the token file, as SIGHUP does. A file that does not
// load is a 500 whose message says why; the previous tokens stay in force.
func (g *Gateway) serveReload(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	if g.cfg.InsecureNoAuth {
		writeError(w, badRequest("authentication is disabled; there is no token file to reload"))
		return
	}
	if err := g.Reload(); err != nil {
		g.log.Warn("token file reload failed", "err", err)
		writeError(w, &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: err.Error()})
		return
	}
	writeJSONStatus(w, http.StatusOK, reloadJSON{Tokens: g.tokens.Load().Len()})
}
