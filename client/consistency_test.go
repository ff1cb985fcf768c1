package client

import (
	"errors"
	"testing"
	"time"

	"github.com/raftkv/raftkv/proto/kvpb"
)

func TestClient_ReadOptionsSent(t *testing.T) {
	n := startFake(t, "n1")
	n.setApplied(20)
	c := newTestClient(t, n.addr)
	ctx := testCtx(t)

	get := func(opts ...ReadOption) (*GetResponse, *kvpb.ReadOptions) {
		t.Helper()
		resp, err := c.Get(ctx, "k", opts...)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		return resp, n.lastRead()
	}

	// Before any write or linearizable read there is nothing to wait for.
	if _, ro := get(WithConsistency(Stale)); ro.GetConsistency() != kvpb.Consistency_STALE || ro.GetMinIndex() != 0 {
		t.Errorf("first stale read sent %v, want STALE with min_index 0", ro)
	}

	// A Put's index becomes min_index (read-your-writes).
	if _, err := c.Put(ctx, "k", []byte("v")); err != nil { // the fake commits at index 8
		t.Fatalf("Put: %v", err)
	}
	if _, ro := get(WithConsistency(Stale)); ro.GetMinIndex() != 8 {
		t.Errorf("stale read after Put sent min_index %d, want 8", ro.GetMinIndex())
	}

	// A linearizable read raises it to the leader's applied index.
	resp, ro := get()
	if ro.GetConsistency() != kvpb.Consistency_LINEARIZABLE || ro.GetMinIndex() != 0 || ro.GetMaxStalenessMs() != 0 {
		t.Errorf("default read sent %v, want LINEARIZABLE only", ro)
	}
	if resp.Header.Consistency != Linearizable || resp.Header.AppliedIndex != 20 {
		t.Errorf("linearizable read header = %+v", resp.Header)
	}

	tests := []struct {
		name string
		opts []ReadOption
		want *kvpb.ReadOptions
	}{
		{"stale", []ReadOption{WithConsistency(Stale)},
			&kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE, MinIndex: 20}},
		{"bounded", []ReadOption{WithMaxStaleness(1500 * time.Millisecond)},
			&kvpb.ReadOptions{Consistency: kvpb.Consistency_BOUNDED, MaxStalenessMs: 1500, MinIndex: 20}},
		{"bounded rounds up", []ReadOption{WithMaxStaleness(time.Microsecond)},
			&kvpb.ReadOptions{Consistency: kvpb.Consistency_BOUNDED, MaxStalenessMs: 1, MinIndex: 20}},
		{"later option wins", []ReadOption{WithMaxStaleness(time.Second), WithConsistency(Stale)},
			&kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE, MinIndex: 20}},
		{"without read-your-writes", []ReadOption{WithConsistency(Stale), WithoutReadYourWrites()},
			&kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE}},
		{"limit ignored by Get", []ReadOption{WithLimit(3), WithConsistency(Stale)},
			&kvpb.ReadOptions{Consistency: kvpb.Consistency_STALE, MinIndex: 20}},
		{"linearizable explicitly", []ReadOption{WithConsistency(Linearizable), WithDegradedReads()},
			&kvpb.ReadOptions{Consistency: kvpb.Consistency_LINEARIZABLE}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, ro := get(tt.opts...)
			if ro.GetConsistency() != tt.want.GetConsistency() || ro.GetMaxStalenessMs() != tt.want.GetMaxStalenessMs() ||
				ro.GetMinIndex() != tt.want.GetMinIndex() {
				t.Errorf("sent %v, want %v", ro, tt.want)
			}
			if want := consistencyFrom(tt.want.GetConsistency()); resp.Header.Consistency != want {
				t.Errorf("Header.Consistency = %v, want %v", resp.Header.Consistency, want)
			}
		})
	}

	// List takes the same options, and the limit.
	if _, err := c.List(ctx, "p/", WithLimit(5), WithMaxStaleness(2*time.Second)); err != nil {
		t.Fatalf("List: %v", err)
	}
	n.mu.Lock()
	lr := n.lastList
	n.mu.Unlock()
	if lr.GetLimit() != 5 || lr.GetRead().GetConsistency() != kvpb.Consistency_BOUNDED ||
		lr.GetRead().GetMaxStalenessMs() != 2000 || lr.GetRead().GetMinIndex() != 20 {
		t.Errorf("List sent %v", lr)
	}
}

func TestClient_ReadOptionsInvalid(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClient(t, n.addr)
	for name, opts := range map[string][]ReadOption{
		"bounded without bound": {WithConsistency(Bounded)},
		"zero bound":            {WithMaxStaleness(0)},
		"negative bound":        {WithMaxStaleness(-time.Second)},
		"unknown level":         {WithConsistency(Consistency(42))},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.Get(testCtx(t), "k", opts...); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("Get error = %v, want ErrInvalidArgument", err)
			}
			if _, err := c.List(testCtx(t), "k", opts...); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("List error = %v, want ErrInvalidArgument", err)
			}
		})
	}
	if got := n.count("Get") + n.count("List"); got != 0 {
		t.Errorf("server got %d reads, want none", got)
	}
}

func TestClient_DefaultConsistency(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClientConfig(t, Config{Endpoints: []string{n.addr}, DefaultConsistency: Bounded, DefaultMaxStaleness: 3 * time.Second})
	if _, err := c.Get(testCtx(t), "k"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if ro := n.lastRead(); ro.GetConsistency() != kvpb.Consistency_BOUNDED || ro.GetMaxStalenessMs() != 3000 {
		t.Errorf("default read sent %v, want BOUNDED 3000ms", ro)
	}
	// Per-call options override the default, and take the default bound.
	if _, err := c.Get(testCtx(t), "k", WithConsistency(Linearizable)); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if ro := n.lastRead(); ro.GetConsistency() != kvpb.Consistency_LINEARIZABLE {
		t.Errorf("linearizable read sent %v", ro)
	}
}

func TestHeaderFrom(t *testing.T) {
	h := headerFrom(&kvpb.ResponseHeader{NodeId: "n2", LeaderId: "n1", LeaderAddr: "a:1", Term: 3, AppliedIndex: 9,
		LeaderKnown: true, LastContactMs: 1250, Degraded: true, Consistency: kvpb.Consistency_BOUNDED})
	want := Header{NodeID: "n2", LeaderID: "n1", LeaderAddr: "a:1", Term: 3, AppliedIndex: 9,
		LeaderKnown: true, LastContact: 1250 * time.Millisecond, Degraded: true, Consistency: Bounded}
	if h != want {
		t.Errorf("headerFrom = %+v, want %+v", h, want)
	}
	if h := headerFrom(&kvpb.ResponseHeader{LastContactMs: -1}); h.LastContact != -1 || h.Consistency != 0 {
		t.Errorf("headerFrom(never, unspecified) = %+v", h)
	}
}

func TestConsistency_String(t *testing.T) {
	for c, want := range map[Consistency]string{0: "unspecified", Linearizable: "linearizable", Stale: "stale",
		Bounded: "bounded", 9: "Consistency(9)"} {
		if got := c.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(c), got, want)
		}
	}
}
