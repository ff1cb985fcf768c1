// Package gateway is raftkv's HTTP/JSON front door: the handlers behind
// cmd/kvgateway.
//
// A Gateway serves Consul's KV API shape over a [Backend], which is the Go
// client (*client.Client) in production, so it inherits the client's leader
// routing, read load balancing, discovery and safe retries:
//
//	GET    /v1/kv/{key}            one key ([?raw], ?consistency=, ?max_staleness=)
//	GET    /v1/kv/{prefix}?recurse every key under a prefix (also ?prefix, ?keys, ?limit=)
//	PUT    /v1/kv/{key}            set a key; the body is the raw value (?cas=<mod_index>)
//	DELETE /v1/kv/{key}            delete a key (?cas=<mod_index>)
//	GET    /v1/status              every member and its raft state
//	POST   /v1/admin/reload        reload the token file (as SIGHUP does)
//	GET    /v1/openapi.json        the OpenAPI 3 document of all of the above
//	GET    /livez /readyz /metrics probes and Prometheus metrics (no token)
//
// Security and traffic management happen here, in this order, for every
// /v1 request: a token bucket per client IP, bearer-token authentication
// against a token file (401), a token bucket per token whose size depends
// on the token's role (429 with Retry-After), the role check (403), the
// request size limit (413) and parameter validation (400). Tokens are never
// logged; the access log names a token by the first hex digits of its
// SHA-256 (see [Identity]).
//
// Errors from the cluster map to HTTP statuses in one table (errors.go):
// not found 404, invalid argument 400, no quorum / no leader / stale /
// unavailable 503 with Retry-After, deadline 504, a write whose outcome is
// unknown 502 (504 when the deadline caught it), CAS mismatch 409. Every
// error body is JSON: {"code": "...", "message": "..."}.
//
// The gateway is stateless apart from its rate-limit buckets, so several can
// run behind a load balancer (each then enforces its limits separately).
//
// This package imports the client, Prometheus and golang.org/x/time/rate. It
// must never import the server packages (store, raftnode, rpc, server) or
// raft and bbolt: the gateway is a client of the cluster, like kvctl.
package gateway
