package rpc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/store"
)

// TestValidateRequest covers the boundaries that cannot be sent over the
// wire (invalid UTF-8 in a string field fails protobuf encoding) and Join
// requests that would change a real cluster's membership if accepted.
func TestValidateRequest(t *testing.T) {
	id := func(n int) string { return strings.Repeat("n", n) }
	join := func(id, raft, grpc string) *kvpb.JoinRequest {
		return &kvpb.JoinRequest{Id: id, RaftAddr: raft, GrpcAddr: grpc}
	}
	tests := []struct {
		name string
		req  any
		fix  string // "" means valid; else a phrase the message must hold
	}{
		{"join ok", join("n4", "127.0.0.1:7104", "127.0.0.1:7004"), ""},
		{"join id limit-1", join(id(store.MaxNodeFieldBytes-1), "h:1", "h:2"), ""},
		{"join id at limit", join(id(store.MaxNodeFieldBytes), "h:1", "h:2"), ""},
		{"join id limit+1", join(id(store.MaxNodeFieldBytes+1), "h:1", "h:2"), "id is 1025 bytes; the limit is 1024 bytes"},
		{"join id empty", join("", "h:1", "h:2"), "id is empty"},
		{"join id invalid UTF-8", join("n\xff4", "h:1", "h:2"), "id is not valid UTF-8"},
		{"join raft addr invalid UTF-8", join("n4", "h\xc0:1", "h:2"), "raft_addr is not valid UTF-8"},
		{"join grpc addr not host:port", join("n4", "h:1", "nohost"), "grpc_addr \"nohost\" is not host:port"},
		{"join raft addr missing", join("n4", "", "h:2"), "raft_addr is empty"},
		{"list limit too big", &kvpb.ListRequest{Limit: store.MaxListLimit + 1}, "page with more=true"},
		{"get bounded without bound", &kvpb.GetRequest{Key: []byte("k"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_BOUNDED}}, "max_staleness_ms > 0"},
		{"get unknown consistency", &kvpb.GetRequest{Key: []byte("k"), Read: &kvpb.ReadOptions{Consistency: 99}}, "unknown consistency 99"},
		{"cas expected too big", &kvpb.CompareAndSwapRequest{Key: []byte("k"), ExpectedValue: make([]byte, store.MaxValueBytes+1)}, "expected_value is"},
		{"members", &kvpb.MembersRequest{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateRequest(tt.req)
			if tt.fix == "" {
				if err != nil {
					t.Fatalf("validateRequest = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, store.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.fix) {
				t.Fatalf("validateRequest = %v, want invalid argument saying %q", err, tt.fix)
			}
		})
	}
}

// FuzzValidateRequest decodes arbitrary bytes as each API request and
// validates it. No input may panic, and whatever validateRequest accepts
// the store's command constructors must accept too, so a request that
// passes the fast path is never refused later for a limit it already met.
func FuzzValidateRequest(f *testing.F) {
	seeds := []proto.Message{
		&kvpb.PutRequest{Key: []byte("k"), Value: []byte("v")},
		&kvpb.PutRequest{Key: bytes.Repeat([]byte("k"), store.MaxKeyBytes+1)},
		&kvpb.CompareAndSwapRequest{Key: []byte("k"), ExpectedValue: []byte("a"), NewValue: []byte("b")},
		&kvpb.ListRequest{Prefix: []byte("p"), Limit: -1},
		&kvpb.GetRequest{Key: []byte("k"), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_BOUNDED, MaxStalenessMs: 5}},
		&kvpb.JoinRequest{Id: "n4", RaftAddr: "127.0.0.1:1", GrpcAddr: "127.0.0.1:2"},
		&kvpb.DeleteRequest{},
	}
	for i, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(5), []byte{0x0a, 0x02, 'n', 0xff}) // Join id with invalid UTF-8
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		var req proto.Message
		switch kind % 6 {
		case 0:
			req = &kvpb.PutRequest{}
		case 1:
			req = &kvpb.GetRequest{}
		case 2:
			req = &kvpb.CompareAndSwapRequest{}
		case 3:
			req = &kvpb.ListRequest{}
		case 4:
			req = &kvpb.DeleteRequest{}
		default:
			req = &kvpb.JoinRequest{}
		}
		// Lenient decoding, so invalid UTF-8 reaches validation as it can
		// from an in-process caller.
		if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, req); err != nil {
			return
		}
		err := validateRequest(req)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("validateRequest error %v does not wrap ErrInvalidArgument", err)
			}
			return
		}
		var cerr error
		switch r := req.(type) {
		case *kvpb.PutRequest:
			_, cerr = store.PutCommand(r.GetKey(), r.GetValue())
		case *kvpb.DeleteRequest:
			_, cerr = store.DeleteCommand(r.GetKey())
		case *kvpb.CompareAndSwapRequest:
			_, cerr = store.CompareAndSwapCommand(r.GetKey(), r.ExpectedValue, r.GetNewValue())
		case *kvpb.JoinRequest:
			_, cerr = store.SetNodeMetaCommand(r.GetId(), r.GetGrpcAddr(), r.GetRaftAddr())
		}
		if cerr != nil {
			t.Fatalf("validateRequest accepted %v but the store refused it: %v", req, cerr)
		}
	})
}
