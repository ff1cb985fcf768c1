package client

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// sameRequest reports whether two request ids name the same request.
func sameRequest(a, b *kvpb.RequestID) bool {
	return a != nil && b != nil && bytes.Equal(a.GetClientId(), b.GetClientId()) && a.GetSeq() == b.GetSeq()
}

// writeCalls are the client's write methods, for tests that run each.
var writeCalls = map[string]func(ctx context.Context, c *Client) error{
	"Put": func(ctx context.Context, c *Client) error {
		_, err := c.Put(ctx, "k", []byte("v"))
		return err
	},
	"Delete": func(ctx context.Context, c *Client) error {
		_, err := c.Delete(ctx, "k")
		return err
	},
	"CompareAndSwap": func(ctx context.Context, c *Client) error {
		_, err := c.CompareAndSwap(ctx, "k", []byte("old"), []byte("new"))
		return err
	},
}

func TestClient_OutcomeUnknownRetriedWithSameRequestID(t *testing.T) {
	for method, write := range writeCalls {
		t.Run(method, func(t *testing.T) {
			n := startFake(t, "n1")
			// The leader lost leadership while committing the first attempt.
			n.script(method, failFirst(1, raftkvErr(codes.Unavailable, reasonOutcomeUnknown, nil)))
			c := newTestClient(t, n.addr)

			if err := write(testCtx(t), c); err != nil {
				t.Fatalf("%s: %v (the write carries a request id, so it must be retried)", method, err)
			}
			ids := n.requestIDs(method)
			if len(ids) != 2 {
				t.Fatalf("got %d attempts, want 2", len(ids))
			}
			if !sameRequest(ids[0], ids[1]) || len(ids[0].GetClientId()) != clientIDBytes || ids[0].GetSeq() != 1 {
				t.Fatalf("request ids %v and %v: want the same 16-byte client id and seq 1 twice", ids[0], ids[1])
			}
		})
	}
}

func TestClient_WriteConnectionLostAfterSendRetriedElsewhere(t *testing.T) {
	leader := startFake(t, "n1")
	other := startFake(t, "n2")
	leader.script("Put", func(ctx context.Context, _ int) error {
		go leader.srv.Stop() // the connection drops while the write is in flight
		return hang(ctx, 0)
	})
	c := newTestClient(t, leader.addr, other.addr)

	resp, err := c.Put(testCtx(t), "k", []byte("v"))
	if err != nil {
		t.Fatalf("Put: %v (a write lost in flight is retried under its request id)", err)
	}
	if resp.Header.NodeID != "n2" || !resp.Succeeded {
		t.Errorf("Put = %+v, want it served by n2", resp)
	}
	first, second := leader.requestIDs("Put"), other.requestIDs("Put")
	if len(first) != 1 || len(second) != 1 || !sameRequest(first[0], second[0]) {
		t.Fatalf("request ids: %v on n1, %v on n2; want one each, the same", first, second)
	}
}

func TestClient_OutcomeUnknownUntilDeadline(t *testing.T) {
	n := startFake(t, "n1")
	n.script("Put", always(raftkvErr(codes.Unavailable, reasonOutcomeUnknown, nil)))
	c := newTestClient(t, n.addr)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()

	_, err := c.Put(ctx, "k", []byte("v"))
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put error = %v, want ErrOutcomeUnknown and the deadline", err)
	}
	ids := n.requestIDs("Put")
	if len(ids) < 2 {
		t.Fatalf("got %d attempts, want retries until the deadline", len(ids))
	}
	for _, id := range ids[1:] {
		if !sameRequest(ids[0], id) {
			t.Fatalf("attempt with request id %v, want %v", id, ids[0])
		}
	}
}

func TestClient_OutcomeKnownAfterEarlierFailure(t *testing.T) {
	// NO_LEADER first (nothing proposed), then the answer: a plain success,
	// and no doubt in the result.
	n := startFake(t, "n1")
	n.script("Put", failFirst(1, raftkvErr(codes.Unavailable, reasonNoLeader, nil)))
	c := newTestClient(t, n.addr)
	if _, err := c.Put(testCtx(t), "k", nil); err != nil {
		t.Fatalf("Put: %v", err)
	}

	// OUTCOME_UNKNOWN, then a final error: the caller must learn that the
	// first attempt may have been applied.
	m := startFake(t, "n2")
	m.script("Put", func(_ context.Context, call int) error {
		if call == 1 {
			return raftkvErr(codes.Unavailable, reasonOutcomeUnknown, nil)
		}
		return raftkvErr(codes.Internal, "", nil)
	})
	c = newTestClient(t, m.addr)
	if _, err := c.Put(testCtx(t), "k", nil); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Put error = %v, want ErrOutcomeUnknown", err)
	}
}

func TestClient_RequestIDSequence(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClient(t, n.addr)
	for range 3 {
		if _, err := c.Put(testCtx(t), "k", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Delete(testCtx(t), "k"); err != nil {
		t.Fatal(err)
	}
	puts, dels := n.requestIDs("Put"), n.requestIDs("Delete")
	want := []*kvpb.RequestID{
		// The first write knows no session index yet; the fake answers at 8.
		{ClientId: puts[0].GetClientId(), Seq: 1, MinUnackedSeq: 1},
		{ClientId: puts[0].GetClientId(), Seq: 2, MinUnackedSeq: 2, SessionIndex: 8},
		{ClientId: puts[0].GetClientId(), Seq: 3, MinUnackedSeq: 3, SessionIndex: 8},
		{ClientId: puts[0].GetClientId(), Seq: 4, MinUnackedSeq: 4, SessionIndex: 8},
	}
	got := append(puts, dels...)
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("write %d: request id %v, want %v", i+1, got[i], want[i])
		}
	}
	// Another client is another session.
	other := newTestClient(t, n.addr)
	if _, err := other.Put(testCtx(t), "k", nil); err != nil {
		t.Fatal(err)
	}
	if last := n.requestIDs("Put")[3]; bytes.Equal(last.GetClientId(), puts[0].GetClientId()) || last.GetSeq() != 1 {
		t.Errorf("second client's request id %v shares the first's client id", last)
	}
}

func mustBegin(t *testing.T, s *session) uint64 {
	t.Helper()
	seq, err := s.begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestSession_AckFloor(t *testing.T) {
	s := newSession()
	a, b, c := mustBegin(t, s), mustBegin(t, s), mustBegin(t, s)
	s.finish(b)
	if s.floor != a {
		t.Fatalf("floor = %d after finishing %d only, want %d", s.floor, b, a)
	}
	s.finish(a)
	if s.floor != c {
		t.Fatalf("floor = %d, want %d: every seq below it is finished", s.floor, c)
	}
	s.finish(c)
	s.finish(c) // finishing twice is harmless
	if s.floor != 4 || len(s.done) != 0 {
		t.Fatalf("floor = %d with %v pending, want 4 and none", s.floor, s.done)
	}
}

// TestSession_FlowControl: a client never has more writes in flight than
// the server keeps results for, so a write still being retried cannot have
// its result evicted by later ones (the gateway's e2e test caught one:
// "request too old to deduplicate" after 256 newer writes overtook a retry).
func TestSession_FlowControl(t *testing.T) {
	s := newSession()
	first := mustBegin(t, s)
	for range maxInFlightWrites - 1 {
		mustBegin(t, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.begin(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("begin with %d writes in flight: %v, want to wait until the deadline", maxInFlightWrites, err)
	}
	got := make(chan uint64, 1)
	go func() {
		seq, err := s.begin(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- seq
	}()
	s.finish(first) // frees one slot
	if seq := <-got; seq != first+maxInFlightWrites {
		t.Fatalf("seq after a slot freed = %d, want %d", seq, first+maxInFlightWrites)
	}
}

func TestClient_RequestTooOldRenewed(t *testing.T) {
	// The first attempt is refused outright: nothing can have been
	// applied, so the write goes again under a new seq.
	n := startFake(t, "n1")
	n.script("Put", failFirst(1, raftkvErr(codes.FailedPrecondition, reasonRequestTooOld, nil)))
	c := newTestClient(t, n.addr)
	if _, err := c.Put(testCtx(t), "k", nil); err != nil {
		t.Fatalf("Put: %v", err)
	}
	ids := n.requestIDs("Put")
	if len(ids) != 2 || !bytes.Equal(ids[0].GetClientId(), ids[1].GetClientId()) || ids[1].GetSeq() <= ids[0].GetSeq() {
		t.Fatalf("request ids %v: want a new seq under the same client id", ids)
	}

	// After an attempt whose outcome is unknown it must not be renewed:
	// the first attempt may have been applied.
	m := startFake(t, "n2")
	m.script("Put", func(_ context.Context, call int) error {
		if call == 1 {
			return raftkvErr(codes.Unavailable, reasonOutcomeUnknown, nil)
		}
		return raftkvErr(codes.FailedPrecondition, reasonRequestTooOld, nil)
	})
	c = newTestClient(t, m.addr)
	if _, err := c.Put(testCtx(t), "k", nil); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Put error = %v, want ErrOutcomeUnknown", err)
	}
	if ids := m.requestIDs("Put"); len(ids) != 2 || !sameRequest(ids[0], ids[1]) {
		t.Fatalf("request ids %v, want two attempts of one request", ids)
	}
}

func TestClient_SessionExpiredNewClientID(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClient(t, n.addr)
	if _, err := c.Put(testCtx(t), "k", nil); err != nil {
		t.Fatal(err)
	}
	n.script("Put", failFirst(2, raftkvErr(codes.FailedPrecondition, reasonSessionExpired, nil)))
	if _, err := c.Put(testCtx(t), "k", nil); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if _, err := c.Put(testCtx(t), "k", nil); err != nil {
		t.Fatal(err)
	}
	ids := n.requestIDs("Put")
	// ids[1] is refused (the script's call 2); ids[2] is the same write
	// under a new client id, which the next write keeps.
	if len(ids) != 4 || bytes.Equal(ids[1].GetClientId(), ids[2].GetClientId()) ||
		!bytes.Equal(ids[2].GetClientId(), ids[3].GetClientId()) {
		t.Fatalf("request ids %v: want a new client id from the refused write on", ids)
	}
	if ids[2].GetSeq() != 1 || ids[2].GetSessionIndex() != 0 || ids[3].GetSessionIndex() != 8 {
		t.Fatalf("new session's ids %v, %v: want seq 1 without, then with a session index", ids[2], ids[3])
	}
}

func TestClient_CompareAndSwap(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClient(t, n.addr)
	tests := []struct {
		name    string
		old     []byte
		present bool
	}{
		{"nil means the key must not exist", nil, false},
		{"empty means an empty value", []byte{}, true},
		{"a value", []byte("v1"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			swapped, err := c.CompareAndSwap(testCtx(t), "k", tt.old, []byte("v2"))
			if err != nil || !swapped {
				t.Fatalf("CompareAndSwap = %v, %v; want swapped", swapped, err)
			}
			n.mu.Lock()
			req := n.lastCAS
			n.mu.Unlock()
			if (req.ExpectedValue != nil) != tt.present || !bytes.Equal(req.ExpectedValue, tt.old) ||
				string(req.GetNewValue()) != "v2" || string(req.GetKey()) != "k" {
				t.Fatalf("server saw %v", req)
			}
		})
	}
	n.failConditions(&kvpb.KeyValue{Key: []byte("k"), Value: []byte("other"), ModIndex: 4})
	swapped, err := c.CompareAndSwap(testCtx(t), "k", []byte("v1"), []byte("v2"))
	if err != nil || swapped {
		t.Fatalf("CompareAndSwap on a mismatch = %v, %v; want false and no error", swapped, err)
	}
	resp, err := c.CompareAndSwapResult(testCtx(t), "k", []byte("v1"), []byte("v2"))
	if err != nil || resp.Succeeded || resp.Current == nil || string(resp.Current.Value) != "other" || resp.Current.ModIndex != 4 ||
		resp.Header.NodeID != "n1" {
		t.Fatalf("CompareAndSwapResult on a mismatch = %+v, %v; want not succeeded with the current value at mod index 4", resp, err)
	}
}

func TestClient_PutIfDeleteIf(t *testing.T) {
	n := startFake(t, "n1")
	c := newTestClient(t, n.addr)
	resp, err := c.PutIf(testCtx(t), "k", []byte("v"), 0)
	if err != nil || !resp.Succeeded || resp.Index != 8 {
		t.Fatalf("PutIf = %+v, %v", resp, err)
	}
	n.mu.Lock()
	put := n.lastPut
	n.mu.Unlock()
	if put.ExpectedModIndex == nil || *put.ExpectedModIndex != 0 {
		t.Fatalf("server saw expected_mod_index %v, want present and 0", put.ExpectedModIndex)
	}
	if _, err := c.Put(testCtx(t), "k", nil); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	put = n.lastPut
	n.mu.Unlock()
	if put.ExpectedModIndex != nil {
		t.Fatalf("Put sent expected_mod_index %d, want none", *put.ExpectedModIndex)
	}

	n.failConditions(&kvpb.KeyValue{Key: []byte("k"), CreateIndex: 3, ModIndex: 5})
	resp, err = c.PutIf(testCtx(t), "k", []byte("v"), 4)
	if err != nil || resp.Succeeded || resp.Current == nil || resp.Current.ModIndex != 5 || resp.Current.Value == nil {
		t.Fatalf("PutIf on a mismatch = %+v, %v; want not succeeded with mod index 5 and an empty value", resp, err)
	}
	del, err := c.DeleteIf(testCtx(t), "k", 4)
	if err != nil || del.Succeeded || del.Deleted || del.Current.ModIndex != 5 {
		t.Fatalf("DeleteIf on a mismatch = %+v, %v", del, err)
	}
	// An unconditional Put succeeds whatever the fake says about conditions.
	if resp, err := c.Put(testCtx(t), "k", nil); err != nil || !resp.Succeeded {
		t.Fatalf("Put = %+v, %v", resp, err)
	}
}

func TestClient_EmptyValueIsNotNil(t *testing.T) {
	// proto3 does not send an empty value: it arrives as nil and must come
	// out as an empty slice, or CompareAndSwap would read it as "no key".
	kv := keyValueFrom(&kvpb.KeyValue{Key: []byte("k")})
	if kv.Value == nil || len(kv.Value) != 0 {
		t.Fatalf("Value = %#v, want an empty non-nil slice", kv.Value)
	}
	if cur := currentFrom(&kvpb.KeyValue{Key: []byte("k"), ModIndex: 3}, true); cur.Value != nil {
		t.Fatalf("omitted value = %#v, want nil", cur.Value)
	}
	if currentFrom(nil, false) != nil {
		t.Fatal("currentFrom(nil) != nil")
	}
}
