package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/raftkv/raftkv/client"
)

// kvPrefix is the path prefix of the KV routes. Keys are taken from the
// escaped path after it, so a key may hold any UTF-8 text: "/" (as "/" or
// "%2F"), "//", "." and ".." segments all reach the cluster unchanged,
// because these routes bypass http.ServeMux's path cleaning.
const kvPrefix = "/v1/kv/"

// kvRequest is a parsed /v1/kv request.
type kvRequest struct {
	method string
	key    string // the key, or the prefix of a listing

	// GET
	list     bool               // ?recurse or ?prefix: every key under key
	keysOnly bool               // ?keys: list key names only (implies list)
	raw      bool               // ?raw: the value alone as the body
	limit    int                // ?limit=: 0 means the server's maximum
	level    client.Consistency // 0: the client's default (linearizable)
	maxStale time.Duration      // bounded reads

	// PUT and DELETE
	cas    uint64 // ?cas=: the mod index the key must have (0: must not exist)
	hasCAS bool
}

// allowedParams are the query parameters each method accepts. Anything
// else is refused, so a misspelt ?consistancy=stale is an error rather than
// a silently linearizable read.
var allowedParams = map[string][]string{
	http.MethodGet:    {"recurse", "prefix", "keys", "raw", "limit", "consistency", "max_staleness", "stale", "consistent"},
	http.MethodPut:    {"cas"},
	http.MethodDelete: {"cas"},
}

// parseKVRequest parses a /v1/kv request from its method, escaped path
// (which starts with kvPrefix) and raw query. Errors are 400s that say what
// to fix.
func parseKVRequest(method, escapedPath, rawQuery string) (*kvRequest, *apiError) {
	allowed, ok := allowedParams[method]
	if !ok {
		return nil, &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed,
			msg: "method " + method + " is not allowed on /v1/kv; use GET, PUT or DELETE"}
	}
	key, err := url.PathUnescape(strings.TrimPrefix(escapedPath, kvPrefix))
	if err != nil {
		return nil, badRequest("key is not a valid escaped URL path: %v", err)
	}
	if len(key) > MaxKeyBytes {
		return nil, badRequest("key is %d bytes; the limit is %d bytes", len(key), MaxKeyBytes)
	}
	if !utf8.ValidString(key) {
		return nil, badRequest("key is not valid UTF-8 (the gateway carries keys as text)")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("malformed query string: %v", err)
	}
	for name, vals := range q {
		if !slices.Contains(allowed, name) {
			return nil, badRequest("unknown query parameter %q for %s; accepted: %s", name, method, strings.Join(allowed, ", "))
		}
		if len(vals) > 1 {
			return nil, badRequest("query parameter %q given %d times", name, len(vals))
		}
	}
	req := &kvRequest{method: method, key: key}
	if method == http.MethodGet {
		if e := req.parseRead(q); e != nil {
			return nil, e
		}
		return req, nil
	}
	if key == "" {
		return nil, badRequest("missing key: %s needs /v1/kv/<key>", method)
	}
	if v, ok := q["cas"]; ok {
		n, err := strconv.ParseUint(v[0], 10, 64)
		if err != nil {
			return nil, badRequest("cas must be a mod index (an unsigned integer; 0: only if the key does not exist), got %q", v[0])
		}
		req.cas, req.hasCAS = n, true
	}
	return req, nil
}

// parseRead fills in the GET parameters.
func (req *kvRequest) parseRead(q url.Values) *apiError {
	flags := map[string]*bool{"recurse": &req.list, "keys": &req.keysOnly, "raw": &req.raw}
	var prefix, stale, consistent bool
	flags["prefix"], flags["stale"], flags["consistent"] = &prefix, &stale, &consistent
	for name, dst := range flags {
		v, ok := q[name]
		if !ok {
			continue
		}
		b, ok := parseFlag(v[0])
		if !ok {
			return badRequest("%s is a flag: give no value, true or false, not %q", name, v[0])
		}
		*dst = b
	}
	req.list = req.list || prefix || req.keysOnly
	if req.raw && req.list {
		return badRequest("raw returns one value; it cannot be combined with recurse, prefix or keys")
	}
	if !req.list && req.key == "" {
		return badRequest("missing key: GET /v1/kv/<key>, or /v1/kv/<prefix>?recurse to list")
	}
	if v, ok := q["limit"]; ok {
		if !req.list {
			return badRequest("limit applies to listings (recurse, prefix or keys)")
		}
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > MaxListLimit {
			return badRequest("limit must be an integer from 1 to %d, got %q", MaxListLimit, v[0])
		}
		req.limit = n
	}
	return req.parseConsistency(q, stale, consistent)
}

// parseConsistency reads ?consistency=, ?max_staleness= and Consul's ?stale
// and ?consistent flags, which must not contradict each other.
func (req *kvRequest) parseConsistency(q url.Values, stale, consistent bool) *apiError {
	if stale && consistent {
		return badRequest("stale and consistent exclude each other")
	}
	switch {
	case stale:
		req.level = client.Stale
	case consistent:
		req.level = client.Linearizable
	}
	if v, ok := q["consistency"]; ok {
		var level client.Consistency
		switch strings.ToLower(v[0]) {
		case "linearizable":
			level = client.Linearizable
		case "stale":
			level = client.Stale
		case "bounded":
			level = client.Bounded
		default:
			return badRequest("consistency must be linearizable, stale or bounded, got %q", v[0])
		}
		if req.level != 0 && req.level != level {
			return badRequest("consistency=%s contradicts the %s flag", v[0], req.level)
		}
		req.level = level
	}
	v, ok := q["max_staleness"]
	if !ok {
		if req.level == client.Bounded {
			return badRequest("consistency=bounded needs max_staleness, e.g. max_staleness=2s")
		}
		return nil
	}
	d, err := time.ParseDuration(v[0])
	if err != nil || d <= 0 {
		return badRequest("max_staleness must be a positive duration such as 500ms or 2s, got %q", v[0])
	}
	if req.level != 0 && req.level != client.Bounded {
		return badRequest("max_staleness applies to bounded reads, not %s ones", req.level)
	}
	req.level, req.maxStale = client.Bounded, d
	return nil
}

// readOptions turns the request into client read options.
func (req *kvRequest) readOptions() []client.ReadOption {
	var opts []client.ReadOption
	switch req.level {
	case client.Bounded:
		opts = append(opts, client.WithMaxStaleness(req.maxStale))
	case client.Stale, client.Linearizable:
		opts = append(opts, client.WithConsistency(req.level))
	}
	if req.limit > 0 {
		opts = append(opts, client.WithLimit(req.limit))
	}
	return opts
}

// parseFlag reads a Consul-style flag: present with no value, or an
// explicit true/false (1/0). ok is false for anything else.
func parseFlag(v string) (b, ok bool) {
	switch strings.ToLower(v) {
	case "", "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}
