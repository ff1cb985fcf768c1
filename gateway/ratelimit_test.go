package gateway

import (
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestLimiterSet_Reserve(t *testing.T) {
	s := newLimiterSet()
	now := time.Unix(1000, 0)
	l := Limit{Rate: 1, Burst: 2}
	for i := range 2 {
		if d := s.reserve("a", l, now); d != 0 {
			t.Fatalf("request %d waited %v within the burst", i, d)
		}
	}
	d := s.reserve("a", l, now)
	if d <= 0 || d > time.Second {
		t.Fatalf("third request: wait %v, want up to 1s", d)
	}
	// A refused request does not use up later capacity.
	if d2 := s.reserve("a", l, now); d2 != d {
		t.Errorf("refusal consumed capacity: wait %v then %v", d, d2)
	}
	if d := s.reserve("a", l, now.Add(time.Second)); d != 0 {
		t.Errorf("after 1s: wait %v", d)
	}
	if d := s.reserve("b", l, now); d != 0 {
		t.Errorf("another key waited %v", d)
	}
	if d := s.reserve("c", NoLimit, now); d != 0 || s.size() != 2 {
		t.Errorf("unlimited: wait %v, %d buckets (unlimited keys take none)", d, s.size())
	}
	// A reload that changes the role's limit applies to existing buckets:
	// the empty bucket now refills at 1000/s, not 1/s.
	if d := s.reserve("a", Limit{Rate: 1000, Burst: 1000}, now.Add(time.Second)); d > time.Millisecond {
		t.Errorf("after raising the limit: wait %v, want at most 1ms", d)
	}
}

func TestLimiterSet_Sweep(t *testing.T) {
	s := newLimiterSet()
	now := time.Unix(1000, 0)
	l := Limit{Rate: 1, Burst: 1}
	s.reserve("idle", l, now)
	s.reserve("busy", Limit{Rate: 0.001, Burst: 1}, now)
	// After sweepEvery, "idle" has refilled and is dropped; "busy" has not.
	s.reserve("new", l, now.Add(sweepEvery))
	if s.size() != 2 {
		t.Fatalf("%d buckets after the sweep, want busy and new", s.size())
	}
	if d := s.reserve("busy", Limit{Rate: 0.001, Burst: 1}, now.Add(sweepEvery)); d == 0 {
		t.Error("the sweep forgave a client that had not refilled")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{time.Nanosecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Hour: 3600} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"192.0.2.1:5555", "", nil, "192.0.2.1"},
		{"192.0.2.1:5555", "203.0.113.9", nil, "192.0.2.1"},                         // untrusted peer: header ignored
		{"192.0.2.1:5555", "203.0.113.9", trusted, "192.0.2.1"},                     // peer not a trusted proxy
		{"10.1.1.1:5555", "203.0.113.9", trusted, "203.0.113.9"},                    // one trusted hop
		{"10.1.1.1:5555", "1.2.3.4, 203.0.113.9, 10.2.2.2", trusted, "203.0.113.9"}, // spoofed left part ignored
		{"10.1.1.1:5555", "10.3.3.3", trusted, "10.3.3.3"},                          // all trusted: the left-most
		{"10.1.1.1:5555", "junk", trusted, "10.1.1.1"},
		{"[::ffff:192.0.2.7]:80", "", nil, "192.0.2.7"},
		{"[2001:db8::1]:80", "", nil, "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientIP(r, tc.trusted); got.String() != tc.want {
			t.Errorf("clientIP(%s, XFF %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestIPKey(t *testing.T) {
	if a, b := ipKey(netip.MustParseAddr("2001:db8::1")), ipKey(netip.MustParseAddr("2001:db8::ffff:1")); a != b || a != "2001:db8::/64" {
		t.Errorf("one /64 gives keys %q and %q", a, b)
	}
	if k := ipKey(netip.MustParseAddr("192.0.2.1")); k != "192.0.2.1" {
		t.Errorf("IPv4 key %q", k)
	}
	if k := ipKey(netip.Addr{}); k != "unknown" {
		t.Errorf("invalid key %q", k)
	}
}

// TestGateway_IPLimitBehindProxy limits clients behind a trusted proxy
// separately.
func TestGateway_IPLimitBehindProxy(t *testing.T) {
	e := newEnv(t, &memBackend{}, func(c *Config) {
		c.IPLimit = Limit{Rate: 0.001, Burst: 1}
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	for i, want := range []int{200, 200, 429} {
		xff := "203.0.113." + strconv.Itoa(min(i, 1)) // .0, .1, .1
		req := httptest.NewRequest("GET", "/v1/status", nil)
		req.RemoteAddr = "127.0.0.1:4000"
		req.Header.Set("X-Forwarded-For", xff)
		req.Header.Set("Authorization", "Bearer "+readTok)
		w := httptest.NewRecorder()
		e.gw.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("request %d from %s: %d, want %d", i, xff, w.Code, want)
		}
	}
}
