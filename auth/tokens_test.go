package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBearerToken(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc":     "abc",
		"bearer  abc  ":  "abc",
		"Basic abc":      "",
		"Bearer":         "",
		"Bearer ":        "",
		"":               "",
		"abcdefghijklmn": "",
	} {
		got, ok := BearerToken(h)
		if got != want || ok != (want != "") {
			t.Errorf("BearerToken(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}

func TestParseTokens_RolesWithoutDefaultsAreUnlimited(t *testing.T) {
	ts, err := ParseTokens(strings.NewReader(`{"tokens": [{"name": "n", "role": "admin", "token": "node-token-0123456789"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := ts.Lookup("node-token-0123456789"); !ok || id.Role != RoleAdmin || id.Name != "n" {
		t.Fatalf("Lookup = %+v, %v", id, ok)
	}
	if !ts.Limit(RoleRead).Unlimited() {
		t.Errorf("read limit = %v, want unlimited", ts.Limit(RoleRead))
	}
}

func TestLoadNodeToken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("  node-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := LoadNodeToken(good); err != nil || tok != "node-token-0123456789" {
		t.Errorf("LoadNodeToken = %q, %v", tok, err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadNodeToken(short); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("LoadNodeToken(short) = %v; want an error that does not quote the token", err)
	}
}
