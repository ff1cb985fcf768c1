package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/raftkv/raftkv/client"
)

func TestParseKVRequest(t *testing.T) {
	for _, tc := range []struct {
		method, path, query string
		want                kvRequest
	}{
		{"GET", "/v1/kv/a", "", kvRequest{key: "a"}},
		{"GET", "/v1/kv/a%2Fb", "", kvRequest{key: "a/b"}},
		{"GET", "/v1/kv/a//b/../c", "", kvRequest{key: "a//b/../c"}},
		{"GET", "/v1/kv/p/", "recurse", kvRequest{key: "p/", list: true}},
		{"GET", "/v1/kv/", "prefix&limit=10", kvRequest{list: true, limit: 10}},
		{"GET", "/v1/kv/p", "keys", kvRequest{key: "p", list: true, keysOnly: true}},
		{"GET", "/v1/kv/a", "raw", kvRequest{key: "a", raw: true}},
		{"GET", "/v1/kv/a", "raw=false&recurse", kvRequest{key: "a", list: true}},
		{"GET", "/v1/kv/a", "consistency=STALE", kvRequest{key: "a", level: client.Stale}},
		{"GET", "/v1/kv/a", "stale", kvRequest{key: "a", level: client.Stale}},
		{"GET", "/v1/kv/a", "consistent", kvRequest{key: "a", level: client.Linearizable}},
		{"GET", "/v1/kv/a", "max_staleness=250ms", kvRequest{key: "a", level: client.Bounded, maxStale: 250 * time.Millisecond}},
		{"GET", "/v1/kv/a", "consistency=bounded&max_staleness=2s", kvRequest{key: "a", level: client.Bounded, maxStale: 2 * time.Second}},
		{"PUT", "/v1/kv/a", "", kvRequest{key: "a"}},
		{"PUT", "/v1/kv/a", "cas=0", kvRequest{key: "a", hasCAS: true}},
		{"DELETE", "/v1/kv/a", "cas=42", kvRequest{key: "a", cas: 42, hasCAS: true}},
	} {
		got, e := parseKVRequest(tc.method, tc.path, tc.query)
		if e != nil {
			t.Errorf("%s %s?%s: %v", tc.method, tc.path, tc.query, e)
			continue
		}
		tc.want.method = tc.method
		if *got != tc.want {
			t.Errorf("%s %s?%s = %+v, want %+v", tc.method, tc.path, tc.query, *got, tc.want)
		}
	}
}

func TestParseKVRequest_Errors(t *testing.T) {
	for _, tc := range []struct{ method, path, query string }{
		{"POST", "/v1/kv/a", ""},
		{"GET", "/v1/kv/%zz", ""},
		{"GET", "/v1/kv/%ff", ""},
		{"GET", "/v1/kv/" + strings.Repeat("a", MaxKeyBytes+1), ""},
		{"GET", "/v1/kv/", ""},
		{"DELETE", "/v1/kv/", ""},
		{"GET", "/v1/kv/a", "%zz"},
		{"GET", "/v1/kv/a", "a;b"},
		{"GET", "/v1/kv/a", "bogus"},
		{"GET", "/v1/kv/a", "cas=1"},
		{"PUT", "/v1/kv/a", "recurse"},
		{"DELETE", "/v1/kv/a", "recurse"},
		{"GET", "/v1/kv/a", "raw&raw"},
		{"GET", "/v1/kv/a", "raw=yes"},
		{"GET", "/v1/kv/a", "limit=5"},
		{"GET", "/v1/kv/a", "recurse&limit=x"},
		{"GET", "/v1/kv/a", "recurse&raw"},
		{"GET", "/v1/kv/a", "stale&consistent"},
		{"GET", "/v1/kv/a", "stale&consistency=linearizable"},
		{"GET", "/v1/kv/a", "consistency=bounded"},
		{"GET", "/v1/kv/a", "consistency=stale&max_staleness=1s"},
		{"GET", "/v1/kv/a", "max_staleness=0s"},
		{"GET", "/v1/kv/a", "max_staleness=2"},
		{"PUT", "/v1/kv/a", "cas=abc"},
		{"PUT", "/v1/kv/a", "cas=18446744073709551616"},
	} {
		if got, e := parseKVRequest(tc.method, tc.path, tc.query); e == nil {
			t.Errorf("%s %s?%s = %+v, want an error", tc.method, tc.path, tc.query, got)
		} else if e.status != http.StatusBadRequest && e.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s?%s: status %d", tc.method, tc.path, tc.query, e.status)
		}
	}
}

// FuzzParseKVRequest checks that no request line makes the parser panic,
// and that whatever it accepts is something the cluster could be asked. The
// seed corpus runs with every `go test`.
func FuzzParseKVRequest(f *testing.F) {
	for _, s := range []struct{ method, path, query string }{
		{"GET", "/v1/kv/a", ""},
		{"GET", "/v1/kv/a/b%2F/../c", "recurse&limit=10&consistency=stale"},
		{"GET", "/v1/kv/", "keys&max_staleness=1.5s"},
		{"GET", "/v1/kv/%ff", "raw"},
		{"GET", "/v1/kv/x", "stale=1&consistent=0"},
		{"PUT", "/v1/kv/a", "cas=0"},
		{"DELETE", "/v1/kv/%E2%82%AC", "cas=99"},
		{"PATCH", "/v1/kv/a", ""},
		{"GET", "/v1/kv/a", "max_staleness=9223372036854775807ns"},
	} {
		f.Add(s.method, s.path, s.query)
	}
	f.Fuzz(func(t *testing.T, method, path, query string) {
		req, e := parseKVRequest(method, kvPrefix+path, query)
		if e != nil {
			if e.status != http.StatusBadRequest && e.status != http.StatusMethodNotAllowed {
				t.Fatalf("status %d", e.status)
			}
			if e.msg == "" || e.code == "" {
				t.Fatal("an error without code or message")
			}
			return
		}
		switch {
		case req.method != method:
			t.Fatalf("method %q became %q", method, req.method)
		case len(req.key) > MaxKeyBytes:
			t.Fatalf("accepted a %d-byte key", len(req.key))
		case !utf8.ValidString(req.key):
			t.Fatalf("accepted a non-UTF-8 key %q", req.key)
		case req.key == "" && !req.list:
			t.Fatal("accepted an empty key outside a listing")
		case req.limit < 0 || req.limit > MaxListLimit:
			t.Fatalf("accepted limit %d", req.limit)
		case req.raw && req.list:
			t.Fatal("accepted raw with a listing")
		case req.level == client.Bounded && req.maxStale <= 0:
			t.Fatal("accepted a bounded read without a bound")
		case req.level != client.Bounded && req.maxStale != 0:
			t.Fatal("kept a bound on a read that is not bounded")
		case req.hasCAS && method == http.MethodGet:
			t.Fatal("accepted cas on a GET")
		}
	})
}

// FuzzGateway_Request sends arbitrary requests through the whole handler
// (routing, auth, parsing, the fake backend): never a panic, never a 500,
// and every error is a JSON body with a code.
func FuzzGateway_Request(f *testing.F) {
	f.Add("GET", "/v1/kv/a?raw", "Bearer "+readTok, "")
	f.Add("PUT", "/v1/kv/a//b?cas=1", "Bearer "+writeTok, "value")
	f.Add("DELETE", "/v1/kv/a", "bearer "+adminTok, "")
	f.Add("GET", "/v1/kv/?recurse&limit=3", "Bearer "+readTok, "")
	f.Add("GET", "/v1/status", "Basic abc", "")
	f.Add("POST", "/v1/admin/reload", "Bearer "+adminTok, "")
	f.Add("GET", "/readyz?verbose", "", "")
	f.Add("OPTIONS", "/v1/kv/x", "", "")
	e := newEnv(f, &memBackend{}, nil)
	f.Fuzz(func(t *testing.T, method, target, auth, body string) {
		if !validMethod(method) {
			return // net/http rejects these before any handler
		}
		req, err := http.NewRequest(method, "http://gw"+target, strings.NewReader(body))
		if err != nil || req.URL.Host != "gw" {
			return
		}
		req.RemoteAddr = "192.0.2.1:1234"
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		e.gw.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
		if w.Code >= 400 && !strings.Contains(w.Body.String(), `"code":`) {
			t.Fatalf("%s %s: %d without a JSON error: %s", method, target, w.Code, w.Body)
		}
	})
}

// validMethod reports whether m is an HTTP token, as net/http requires.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
