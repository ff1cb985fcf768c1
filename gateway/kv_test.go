package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestGateway_KV drives every KV route through a gateway in front of a real
// in-process 3-node cluster.
func TestGateway_KV(t *testing.T) {
	e := newClusterEnv(t, nil)

	t.Run("PutThenGet", func(t *testing.T) {
		e := e.on(t)
		r := e.put("greeting", "hello")
		if string(r.body) != "true\n" {
			t.Errorf("PUT body = %q, want true", r.body)
		}
		idx, err := strconv.ParseUint(r.header.Get("X-Raftkv-Index"), 10, 64)
		if err != nil || idx == 0 {
			t.Errorf("X-Raftkv-Index = %q", r.header.Get("X-Raftkv-Index"))
		}
		g := e.must(http.StatusOK, "GET", "/v1/kv/greeting", readTok, nil)
		got := entries(t, g)
		if len(got) != 1 || got[0].Key != "greeting" || string(got[0].Value) != "hello" || got[0].ModifyIndex != idx || got[0].CreateIndex == 0 {
			t.Fatalf("GET = %+v, want greeting=hello at ModifyIndex %d", got, idx)
		}
		// Consul's shape: base64 values under PascalCase names.
		var raw []map[string]any
		if err := json.Unmarshal(g.body, &raw); err != nil || raw[0]["Value"] != "aGVsbG8=" {
			t.Errorf("JSON = %s, want Value aGVsbG8=", g.body)
		}
		for h, want := range map[string]string{
			"X-Raftkv-Consistency":  "linearizable",
			"X-Raftkv-Leader-Known": "true",
			"X-Raftkv-Degraded":     "false",
			"X-Raftkv-Modify-Index": strconv.FormatUint(idx, 10),
			"Content-Type":          "application/json",
		} {
			if got := g.header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		for _, h := range []string{"X-Raftkv-Node", "X-Raftkv-Applied-Index", "X-Raftkv-Last-Contact"} {
			if g.header.Get(h) == "" {
				t.Errorf("missing header %s", h)
			}
		}
	})

	t.Run("Raw", func(t *testing.T) {
		e := e.on(t)
		e.put("bin", "\x00\x01binary")
		r := e.must(http.StatusOK, "GET", "/v1/kv/bin?raw", readTok, nil)
		if string(r.body) != "\x00\x01binary" || r.header.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("raw = %q (%s)", r.body, r.header.Get("Content-Type"))
		}
	})

	t.Run("EmptyValue", func(t *testing.T) {
		e := e.on(t)
		e.put("empty", "")
		r := e.must(http.StatusOK, "GET", "/v1/kv/empty", readTok, nil)
		if !strings.Contains(string(r.body), `"Value":null`) {
			t.Errorf("empty value = %s, want null as Consul", r.body)
		}
	})

	t.Run("OddKeys", func(t *testing.T) {
		e := e.on(t)
		// Keys that http.ServeMux would "clean" or that need escaping reach
		// the cluster unchanged.
		for _, key := range []string{"a/b/c", "a//b", "a/../b", "./x", "sp ace", "ünï/ℂødé", "pct%2Fslash", "q?mark"} {
			e.put(url.PathEscape(key), key)
			got := entries(t, e.must(http.StatusOK, "GET", "/v1/kv/"+url.PathEscape(key), readTok, nil))
			if got[0].Key != key || string(got[0].Value) != key {
				t.Errorf("key %q: got %+v", key, got[0])
			}
		}
		// Unescaped slashes and dot segments are the same key as escaped ones.
		got := entries(t, e.must(http.StatusOK, "GET", "/v1/kv/a//b", readTok, nil))
		if got[0].Key != "a//b" {
			t.Errorf("GET /v1/kv/a//b = key %q", got[0].Key)
		}
		got = entries(t, e.must(http.StatusOK, "GET", "/v1/kv/a/../b", readTok, nil))
		if got[0].Key != "a/../b" {
			t.Errorf("GET /v1/kv/a/../b = key %q", got[0].Key)
		}
	})

	t.Run("List", func(t *testing.T) {
		e := e.on(t)
		for i := range 5 {
			e.put("list/"+strconv.Itoa(i), "v"+strconv.Itoa(i))
		}
		for _, q := range []string{"?recurse", "?prefix", "?recurse=true"} {
			got := entries(t, e.must(http.StatusOK, "GET", "/v1/kv/list/"+q, readTok, nil))
			if len(got) != 5 || got[0].Key != "list/0" || string(got[4].Value) != "v4" {
				t.Errorf("%s: %+v", q, got)
			}
		}
		r := e.must(http.StatusOK, "GET", "/v1/kv/list/?recurse&limit=2", readTok, nil)
		if got := entries(t, r); len(got) != 2 || r.header.Get("X-Raftkv-More") != "true" {
			t.Errorf("limit=2: %d keys, More %q", len(got), r.header.Get("X-Raftkv-More"))
		}
		r = e.must(http.StatusOK, "GET", "/v1/kv/list/?keys", readTok, nil)
		var keys []string
		if err := json.Unmarshal(r.body, &keys); err != nil || len(keys) != 5 || keys[2] != "list/2" {
			t.Errorf("keys = %s (%v)", r.body, err)
		}
		if r.header.Get("X-Raftkv-More") != "false" {
			t.Errorf("X-Raftkv-More = %q", r.header.Get("X-Raftkv-More"))
		}
		// Everything: an empty prefix.
		if got := entries(t, e.must(http.StatusOK, "GET", "/v1/kv/?recurse", readTok, nil)); len(got) < 5 {
			t.Errorf("all keys: %d", len(got))
		}
		// No key under a prefix: 404, as Consul.
		r = e.must(http.StatusNotFound, "GET", "/v1/kv/nothing-here/?recurse", readTok, nil)
		if r.errorCode() != codeNotFound || r.header.Get("X-Raftkv-Node") == "" {
			t.Errorf("empty listing: %s %v", r.body, r.header)
		}
	})

	t.Run("Consistency", func(t *testing.T) {
		e := e.on(t)
		e.put("c", "1")
		for q, want := range map[string]string{
			"":                                      "linearizable",
			"?consistency=linearizable":             "linearizable",
			"?consistent":                           "linearizable",
			"?consistency=stale":                    "stale",
			"?stale":                                "stale",
			"?consistency=bounded&max_staleness=2s": "bounded",
			"?max_staleness=1m":                     "bounded",
		} {
			r := e.must(http.StatusOK, "GET", "/v1/kv/c"+q, readTok, nil)
			if got := r.header.Get("X-Raftkv-Consistency"); got != want {
				t.Errorf("%q: X-Raftkv-Consistency = %q, want %q", q, got, want)
			}
			// Read-your-writes holds for stale reads through one gateway
			// (one client).
			if got := entries(t, r); string(got[0].Value) != "1" {
				t.Errorf("%q: value %q", q, got[0].Value)
			}
		}
		r := e.must(http.StatusOK, "GET", "/v1/kv/list/?recurse&consistency=stale&limit=1", readTok, nil)
		if r.header.Get("X-Raftkv-Consistency") != "stale" {
			t.Errorf("stale listing served at %q", r.header.Get("X-Raftkv-Consistency"))
		}
	})

	t.Run("Delete", func(t *testing.T) {
		e := e.on(t)
		e.put("gone", "x")
		r := e.must(http.StatusOK, "DELETE", "/v1/kv/gone", writeTok, nil)
		if string(r.body) != "true\n" || r.header.Get("X-Raftkv-Deleted") != "true" {
			t.Errorf("DELETE = %q, deleted %q", r.body, r.header.Get("X-Raftkv-Deleted"))
		}
		e.must(http.StatusNotFound, "GET", "/v1/kv/gone", readTok, nil)
		r = e.must(http.StatusOK, "DELETE", "/v1/kv/gone", writeTok, nil)
		if r.header.Get("X-Raftkv-Deleted") != "false" {
			t.Errorf("second DELETE: deleted %q", r.header.Get("X-Raftkv-Deleted"))
		}
	})

	t.Run("CAS", func(t *testing.T) {
		e := e.on(t)
		index := func(r response) string { return r.header.Get("X-Raftkv-Index") }
		first := index(e.must(200, "PUT", "/v1/kv/cas?cas=0", writeTok, strings.NewReader("one")))
		r := e.must(409, "PUT", "/v1/kv/cas?cas=0", writeTok, strings.NewReader("two"))
		if r.errorCode() != codeCASMismatch || r.header.Get("X-Raftkv-Modify-Index") != first {
			t.Errorf("cas=0 on an existing key: %s, Modify-Index %q (want %s)", r.body, r.header.Get("X-Raftkv-Modify-Index"), first)
		}
		second := index(e.must(200, "PUT", "/v1/kv/cas?cas="+first, writeTok, strings.NewReader("two")))
		e.must(409, "PUT", "/v1/kv/cas?cas="+first, writeTok, strings.NewReader("three"))
		if got := entries(t, e.must(200, "GET", "/v1/kv/cas", readTok, nil)); string(got[0].Value) != "two" || strconv.FormatUint(got[0].ModifyIndex, 10) != second {
			t.Errorf("after the CAS writes: %+v, want two at %s", got[0], second)
		}
		e.must(409, "DELETE", "/v1/kv/cas?cas="+first, writeTok, nil)
		if r := e.must(200, "DELETE", "/v1/kv/cas?cas="+second, writeTok, nil); r.header.Get("X-Raftkv-Deleted") != "true" {
			t.Errorf("DELETE ?cas=%s: deleted %q", second, r.header.Get("X-Raftkv-Deleted"))
		}
		r = e.must(409, "DELETE", "/v1/kv/cas?cas=5", writeTok, nil)
		if r.header.Get("X-Raftkv-Modify-Index") != "" || !strings.Contains(string(r.body), "does not exist") {
			t.Errorf("DELETE ?cas=5 of a missing key: %s %v", r.body, r.header)
		}
		e.must(200, "DELETE", "/v1/kv/cas?cas=0", writeTok, nil)
	})

	t.Run("MaxValue", func(t *testing.T) {
		e := e.on(t)
		e.put("big", strings.Repeat("x", MaxValueBytes))
		r := e.must(http.StatusOK, "GET", "/v1/kv/big?raw", readTok, nil)
		if len(r.body) != MaxValueBytes {
			t.Errorf("read back %d bytes", len(r.body))
		}
	})

	t.Run("MaxKey", func(t *testing.T) {
		e := e.on(t)
		key := strings.Repeat("k", MaxKeyBytes)
		e.put(key, "v")
		e.must(http.StatusOK, "GET", "/v1/kv/"+key, readTok, nil)
	})

	t.Run("Head", func(t *testing.T) {
		e := e.on(t)
		e.put("head", "v")
		r := e.must(http.StatusOK, "HEAD", "/v1/kv/head", readTok, nil)
		if len(r.body) != 0 || r.header.Get("X-Raftkv-Node") == "" {
			t.Errorf("HEAD: body %q, headers %v", r.body, r.header)
		}
	})

	t.Run("AdminCanWrite", func(t *testing.T) {
		e := e.on(t)
		e.must(http.StatusOK, "PUT", "/v1/kv/by-admin", adminTok, strings.NewReader("v"))
	})
}
