package gateway

import (
	"os"
	"strings"
	"testing"
)

func TestParseTokens(t *testing.T) {
	ts, err := ParseTokens(strings.NewReader(testTokenFile), map[Role]Limit{RoleAdmin: {Rate: 7, Burst: 8}})
	if err != nil {
		t.Fatal(err)
	}
	if ts.Len() != 3 {
		t.Errorf("Len = %d", ts.Len())
	}
	for tok, want := range map[string]Identity{
		readTok:  {Name: "reader", Role: RoleRead},
		writeTok: {Name: "writer", Role: RoleWrite}, // given as sha256
		adminTok: {Name: "root", Role: RoleAdmin},
	} {
		got, ok := ts.Lookup(tok)
		if !ok || got.Name != want.Name || got.Role != want.Role || len(got.ID) != 12 || strings.Contains(tok, got.ID) {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v with a 12-digit hash ID", want.Name, got, ok, want)
		}
	}
	if _, ok := ts.Lookup(readTok + "x"); ok {
		t.Error("a longer token matched")
	}
	if _, ok := ts.Lookup(""); ok {
		t.Error("the empty token matched")
	}
	// read and write come from the file (write's burst defaults to 2x its
	// rate), admin from the defaults given.
	for role, want := range map[Role]Limit{RoleRead: {Rate: 1000, Burst: 1000}, RoleWrite: {Rate: 1000, Burst: 2000}, RoleAdmin: {Rate: 7, Burst: 8}} {
		if got := ts.Limit(role); got != want {
			t.Errorf("Limit(%s) = %v, want %v", role, got, want)
		}
	}
}

func TestParseTokens_Defaults(t *testing.T) {
	ts, err := ParseTokens(strings.NewReader(`{"tokens": [], "roles": {"admin": {"unlimited": true}, "read": {"rate": 0.5}}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ts.Limit(RoleWrite); got != DefaultRoleLimits[RoleWrite] {
		t.Errorf("write = %v, want the default", got)
	}
	if !ts.Limit(RoleAdmin).Unlimited() {
		t.Errorf("admin = %v, want unlimited", ts.Limit(RoleAdmin))
	}
	if got := ts.Limit(RoleRead); got != (Limit{Rate: 0.5, Burst: 1}) {
		t.Errorf("read = %v, want 0.5/s burst 1", got)
	}
}

func TestParseTokens_Errors(t *testing.T) {
	const secret = "s3cret-token-value-0123456789"
	for name, file := range map[string]string{
		"NotJSON":        `tokens: []`,
		"Trailing":       `{} {}`,
		"UnknownField":   `{"tokens": [{"token": "` + secret + `", "role": "read", "rol": "x"}]}`,
		"UnknownRole":    `{"tokens": [{"token": "` + secret + `", "role": "root"}]}`,
		"NoSecret":       `{"tokens": [{"name": "a", "role": "read"}]}`,
		"Both":           `{"tokens": [{"token": "` + secret + `", "sha256": "` + writeTokSHA + `", "role": "read"}]}`,
		"ShortToken":     `{"tokens": [{"token": "short", "role": "read"}]}`,
		"SpaceInToken":   `{"tokens": [{"token": "has a space in it 0123", "role": "read"}]}`,
		"BadHash":        `{"tokens": [{"sha256": "abc", "role": "read"}]}`,
		"DuplicateToken": `{"tokens": [{"token": "` + secret + `", "role": "read"}, {"token": "` + secret + `", "role": "write"}]}`,
		"DuplicateName":  `{"tokens": [{"name": "a", "token": "` + secret + `", "role": "read"}, {"name": "a", "sha256": "` + writeTokSHA + `", "role": "write"}]}`,
		"RoleUnknown":    `{"roles": {"superuser": {"rate": 1}}}`,
		"RoleNoRate":     `{"roles": {"read": {"burst": 1}}}`,
		"RoleZeroRate":   `{"roles": {"read": {"rate": 0}}}`,
		"RoleZeroBurst":  `{"roles": {"read": {"rate": 1, "burst": 0}}}`,
		"RoleBoth":       `{"roles": {"read": {"rate": 1, "unlimited": true}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseTokens(strings.NewReader(file), nil)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes a token: %v", err)
			}
		})
	}
}

// TestGateway_Reload swaps tokens in and out without a restart, and keeps
// the old ones when the new file is broken.
func TestGateway_Reload(t *testing.T) {
	e := newEnv(t, &memBackend{}, nil)
	e.must(200, "GET", "/v1/status", readTok, nil)

	const newTok = "brand-new-token-0123456789"
	writeTokens(t, e, `{"tokens": [{"name": "new", "role": "admin", "token": "`+newTok+`"}]}`)
	e.must(401, "GET", "/v1/status", readTok, nil)
	e.must(200, "GET", "/v1/status", newTok, nil)

	// A broken file: Reload fails, the tokens in force stay.
	if err := os.WriteFile(e.tokens, []byte(`{"tokens": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Reload(); err == nil || !strings.Contains(err.Error(), "previous tokens stay in force") {
		t.Errorf("Reload of a broken file = %v", err)
	}
	e.must(200, "GET", "/v1/status", newTok, nil)

	// Over HTTP, as admin.
	if err := os.WriteFile(e.tokens, []byte(testTokenFile), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.must(200, "POST", "/v1/admin/reload", newTok, nil)
	if strings.TrimSpace(string(r.body)) != `{"tokens":3}` {
		t.Errorf("reload answer %s", r.body)
	}
	e.must(200, "GET", "/v1/status", readTok, nil)
	e.must(401, "GET", "/v1/status", newTok, nil)

	m := string(e.must(200, "GET", "/metrics", "", nil).body)
	for _, want := range []string{
		`raftkv_gateway_token_reloads_total{result="error"} 1`,
		`raftkv_gateway_token_reloads_total{result="ok"} 3`, // New, writeTokens, HTTP
		`raftkv_gateway_tokens 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "token"))
		}
	}
}

// TestGateway_InsecureNoAuth runs without a token file: every request acts
// as admin, and the choice is logged loudly.
func TestGateway_InsecureNoAuth(t *testing.T) {
	e := newEnv(t, &memBackend{}, func(c *Config) { c.TokenFile, c.InsecureNoAuth = "", true })
	e.must(200, "PUT", "/v1/kv/k", "", strings.NewReader("v"))
	e.must(200, "GET", "/v1/kv/k", "", nil)
	e.must(400, "POST", "/v1/admin/reload", "", nil)
	if !strings.Contains(e.logs.String(), "AUTHENTICATION IS DISABLED") {
		t.Errorf("no warning logged:\n%s", e.logs)
	}
}

func TestConfig_Validate(t *testing.T) {
	b := &memBackend{}
	for name, c := range map[string]Config{
		"NoBackend":     {TokenFile: "x"},
		"NoTokens":      {Backend: b},
		"Both":          {Backend: b, TokenFile: "x", InsecureNoAuth: true},
		"BadIPLimit":    {Backend: b, TokenFile: "x", IPLimit: Limit{Rate: 1}},
		"BadRoleLimit":  {Backend: b, TokenFile: "x", RoleLimits: map[Role]Limit{RoleRead: {Rate: -1, Burst: 1}}},
		"UnknownRole":   {Backend: b, TokenFile: "x", RoleLimits: map[Role]Limit{9: NoLimit}},
		"NegativeTimer": {Backend: b, TokenFile: "x", RequestTimeout: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(Config{Backend: b, TokenFile: "/nonexistent/tokens.json"}); err == nil {
		t.Error("New with a missing token file succeeded")
	}
}
