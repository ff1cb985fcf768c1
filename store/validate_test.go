package store_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/store"
)

// TestValidate checks every limit at limit-1, limit and limit+1, through
// both the Validate functions and the command constructors.
func TestValidate(t *testing.T) {
	n := func(size int) []byte { return bytes.Repeat([]byte("x"), size) }
	tests := []struct {
		name string
		fn   func() error
		// wantLimit is the limit the error must name; 0 means no error.
		wantLimit int
	}{
		{"key empty", func() error { return store.ValidateKey(nil) }, store.MaxKeyBytes},
		{"key 1", func() error { return store.ValidateKey(n(1)) }, 0},
		{"key limit-1", func() error { return store.ValidateKey(n(store.MaxKeyBytes - 1)) }, 0},
		{"key limit", func() error { return store.ValidateKey(n(store.MaxKeyBytes)) }, 0},
		{"key limit+1", func() error { return store.ValidateKey(n(store.MaxKeyBytes + 1)) }, store.MaxKeyBytes},
		{"value empty", func() error { return store.ValidateValue(nil) }, 0},
		{"value limit-1", func() error { return store.ValidateValue(n(store.MaxValueBytes - 1)) }, 0},
		{"value limit", func() error { return store.ValidateValue(n(store.MaxValueBytes)) }, 0},
		{"value limit+1", func() error { return store.ValidateValue(n(store.MaxValueBytes + 1)) }, store.MaxValueBytes},
		{"prefix empty", func() error { return store.ValidatePrefix(nil) }, 0},
		{"prefix limit", func() error { return store.ValidatePrefix(n(store.MaxKeyBytes)) }, 0},
		{"prefix limit+1", func() error { return store.ValidatePrefix(n(store.MaxKeyBytes + 1)) }, store.MaxKeyBytes},

		{"PutCommand key empty", cmdErr(store.PutCommand(nil, nil)), store.MaxKeyBytes},
		{"PutCommand key limit-1", cmdErr(store.PutCommand(n(store.MaxKeyBytes-1), nil)), 0},
		{"PutCommand key limit", cmdErr(store.PutCommand(n(store.MaxKeyBytes), nil)), 0},
		{"PutCommand key limit+1", cmdErr(store.PutCommand(n(store.MaxKeyBytes+1), nil)), store.MaxKeyBytes},
		{"PutCommand value limit-1", cmdErr(store.PutCommand(n(1), n(store.MaxValueBytes-1))), 0},
		{"PutCommand value limit", cmdErr(store.PutCommand(n(1), n(store.MaxValueBytes))), 0},
		{"PutCommand value limit+1", cmdErr(store.PutCommand(n(1), n(store.MaxValueBytes+1))), store.MaxValueBytes},
		{"DeleteCommand key empty", cmdErr(store.DeleteCommand(nil)), store.MaxKeyBytes},
		{"DeleteCommand key limit", cmdErr(store.DeleteCommand(n(store.MaxKeyBytes))), 0},
		{"DeleteCommand key limit+1", cmdErr(store.DeleteCommand(n(store.MaxKeyBytes + 1))), store.MaxKeyBytes},
		{"SetNodeMetaCommand ok", cmdErr(store.SetNodeMetaCommand("n1", "127.0.0.1:8001", "127.0.0.1:7001")), 0},
		{"SetNodeMetaCommand empty addresses ok", cmdErr(store.SetNodeMetaCommand("n1", "", "")), 0},
		{"SetNodeMetaCommand id limit", cmdErr(store.SetNodeMetaCommand(strings.Repeat("n", 1024), "", "")), 0},
		{"SetNodeMetaCommand id limit+1", cmdErr(store.SetNodeMetaCommand(strings.Repeat("n", 1025), "", "")), 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn()
			if tt.wantLimit == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("got %v, want ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(tt.wantLimit)) {
				t.Fatalf("error %q does not name the limit %d", err, tt.wantLimit)
			}
		})
	}
}

// TestSetNodeMetaCommand_Invalid covers node-meta fields with no numeric
// limit in their message.
func TestSetNodeMetaCommand_Invalid(t *testing.T) {
	for _, tc := range []struct{ name, id, grpcAddr, raftAddr string }{
		{"empty id", "", "g:1", "r:1"},
		{"bad utf8 id", "n\xff", "g:1", "r:1"},
		{"bad utf8 grpc addr", "n1", "\xff", "r:1"},
		{"bad utf8 raft addr", "n1", "g:1", "\xfe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := store.SetNodeMetaCommand(tc.id, tc.grpcAddr, tc.raftAddr); !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("got %v, want ErrInvalidArgument", err)
			}
		})
	}
}

// TestCommands_RoundTrip checks that what the constructors build is what
// Apply accepts, including values at the limits.
func TestCommands_RoundTrip(t *testing.T) {
	s := mustOpen(t)
	key := bytes.Repeat([]byte("k"), store.MaxKeyBytes)
	value := bytes.Repeat([]byte("v"), store.MaxValueBytes)
	data, err := store.PutCommand(key, value)
	if err != nil {
		t.Fatal(err)
	}
	if res := mustApply(t, s, 1, data); res.Err != nil {
		t.Fatalf("Result.Err = %v", res.Err)
	}
	got, err := s.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Value, value) {
		t.Fatalf("value of %d bytes came back as %d bytes", len(value), len(got.Value))
	}
}

// cmdErr adapts a constructor's results to the table's func() error.
func cmdErr(_ []byte, err error) func() error {
	return func() error { return err }
}
