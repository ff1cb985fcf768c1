package gateway

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPI_CoversRoutes checks the served document against the route
// table both ways: every route is documented, with its security, and every
// documented operation is a route. It also resolves every $ref and checks
// the error codes.
func TestOpenAPI_CoversRoutes(t *testing.T) {
	e := newEnv(t, &memBackend{}, nil)
	r := e.must(200, "GET", "/v1/openapi.json", "", nil)
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi = %q, want 3.x", v)
	}
	paths, _ := doc["paths"].(map[string]any)
	documented := map[string]bool{}
	for path, item := range paths {
		for method := range item.(map[string]any) {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	for _, rt := range routes {
		op := rt.method + " " + rt.path
		if !documented[op] {
			t.Errorf("route %s is not in the OpenAPI document", op)
			continue
		}
		delete(documented, op)
		item := paths[rt.path].(map[string]any)[strings.ToLower(rt.method)].(map[string]any)
		sec, hasSec := item["security"].([]any)
		public := hasSec && len(sec) == 0
		if public != (rt.role == 0) {
			t.Errorf("%s: documented as public=%v, but its role is %v", op, public, rt.role)
		}
		if rt.role != 0 {
			resp := item["responses"].(map[string]any)
			for _, code := range []string{"401", "403", "429"} {
				if resp[code] == nil {
					t.Errorf("%s: response %s not documented", op, code)
				}
			}
		}
	}
	for op := range documented {
		t.Errorf("the document has %s, which is not a route", op)
	}

	// Every $ref resolves.
	refs := regexp.MustCompile(`"\$ref":\s*"#/([^"]+)"`).FindAllStringSubmatch(string(r.body), -1)
	if len(refs) == 0 {
		t.Fatal("no $ref found")
	}
	for _, m := range refs {
		var node any = doc
		for _, part := range strings.Split(m[1], "/") {
			obj, ok := node.(map[string]any)
			if !ok || obj[part] == nil {
				t.Errorf("$ref #/%s does not resolve", m[1])
				break
			}
			node = obj[part]
		}
	}

	// The Error schema lists every code the gateway sends.
	enum := doc["components"].(map[string]any)["schemas"].(map[string]any)["Error"].(map[string]any)["properties"].(map[string]any)["code"].(map[string]any)["enum"].([]any)
	for _, code := range []string{codeInvalidArgument, codeUnauthenticated, codePermissionDenied, codeNotFound,
		codeMethodNotAllowed, codeCASMismatch, codeBodyTooLarge, codeRateLimited, codeInternal, codeOutcomeUnknown,
		codeNoQuorum, codeNoLeader, codeStale, codeUnavailable, codeShuttingDown, codeDeadlineExceeded, codeCanceled,
	} {
		if !slices.Contains(enum, any(code)) {
			t.Errorf("error code %s missing from the Error schema", code)
		}
	}
}
