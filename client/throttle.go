package client

import "sync"

// retryThrottle decides whether an OVERLOADED refusal may be retried. It is
// gRPC's retry throttling (proposal A6): a token bucket that loses one token
// per refusal and regains a tenth of one per successful call, and that
// allows retries only while it holds more than half its tokens. A client
// whose calls are mostly being refused therefore stops resending them and
// returns ErrOverloaded at once: under overload, retries would multiply the
// load on a node already refusing it, and the node spends CPU on every
// refusal. Failover retries (no leader, leader changed, outcome unknown)
// are never throttled: they are what makes a failover invisible.
type retryThrottle struct {
	mu     sync.Mutex // guards tokens
	tokens float64
}

const (
	// throttleMaxTokens is the bucket's size: with the 0.1 ratio, about
	// ten refusals in a row (on a client that had been succeeding) stop
	// the retries, and about fifty successes restore them.
	throttleMaxTokens = 10
	// throttleTokenRatio is what one success gives back.
	throttleTokenRatio = 0.1
)

func newRetryThrottle() *retryThrottle { return &retryThrottle{tokens: throttleMaxTokens} }

// refused records an OVERLOADED refusal and reports whether it may be
// retried.
func (t *retryThrottle) refused() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens = max(0, t.tokens-1)
	return t.tokens > throttleMaxTokens/2
}

// succeeded records a successful call.
func (t *retryThrottle) succeeded() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens = min(throttleMaxTokens, t.tokens+throttleTokenRatio)
}
