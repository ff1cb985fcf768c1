package gateway

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bounds of a limiterSet's memory.
const (
	// maxBuckets caps the buckets of one set. Beyond it, new keys share one
	// overflow bucket until idle buckets are swept, so a flood of distinct
	// IPs cannot grow the gateway's memory without bound.
	maxBuckets = 100_000
	// sweepEvery is how often idle buckets are dropped.
	sweepEvery = time.Minute
)

// limiterSet holds one token bucket per key (a client IP or a token hash).
// A bucket that has refilled completely is indistinguishable from a new one,
// so sweeping drops exactly those: eviction never forgives a client.
type limiterSet struct {
	mu sync.Mutex
	// The fields below are guarded by mu.
	buckets   map[string]*bucket
	overflow  *bucket
	lastSweep time.Time
}

type bucket struct {
	lim   *rate.Limiter
	limit Limit // what lim was built with, to follow token-file reloads
}

func newLimiterSet() *limiterSet {
	return &limiterSet{buckets: make(map[string]*bucket)}
}

// reserve takes one request from key's bucket, created with l on first use.
// It returns 0 when the request may go ahead, or how long until it could.
func (s *limiterSet) reserve(key string, l Limit, now time.Time) time.Duration {
	if l.Unlimited() {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSweep) >= sweepEvery {
		s.sweepLocked(now)
	}
	b := s.buckets[key]
	if b == nil {
		if len(s.buckets) >= maxBuckets {
			if s.overflow == nil {
				s.overflow = &bucket{lim: rate.NewLimiter(rate.Limit(l.Rate), l.Burst), limit: l}
			}
			b = s.overflow
		} else {
			b = &bucket{lim: rate.NewLimiter(rate.Limit(l.Rate), l.Burst), limit: l}
			s.buckets[key] = b
		}
	}
	if b.limit != l { // the role's limit changed with a reload
		b.lim.SetLimitAt(now, rate.Limit(l.Rate))
		b.lim.SetBurstAt(now, l.Burst)
		b.limit = l
	}
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request must not use up later capacity
		return d
	}
	return 0
}

// sweepLocked drops full buckets. s.mu is held.
func (s *limiterSet) sweepLocked(now time.Time) {
	s.lastSweep = now
	for k, b := range s.buckets {
		if b.lim.TokensAt(now) >= float64(b.limit.Burst) {
			delete(s.buckets, k)
		}
	}
	if s.overflow != nil && s.overflow.lim.TokensAt(now) >= float64(s.overflow.limit.Burst) {
		s.overflow = nil
	}
}

// size is the number of buckets held (for tests).
func (s *limiterSet) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buckets)
}

// retryAfterSeconds renders a wait for the Retry-After header: whole
// seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// clientIP returns the address to rate-limit r by. The peer address is the
// client, unless it is a trusted proxy: then the right-most address in
// X-Forwarded-For that is not itself a trusted proxy is (the left part of
// that header is written by the client and cannot be believed).
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// Not ip:port (a unix socket or a test); use what there is.
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, _ := netip.ParseAddr(host)
		return a.Unmap()
	}
	ip := ap.Addr().Unmap()
	if !isTrusted(ip, trusted) {
		return ip
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return ip // a malformed hop: stop at the last proxy we trust
			}
			a = a.Unmap()
			if !isTrusted(a, trusted) {
				return a
			}
			ip = a
		}
	}
	return ip
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ipKey is the bucket key of a client address: the address for IPv4 and
// the /64 for IPv6, since one IPv6 client usually holds a whole /64.
func ipKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
