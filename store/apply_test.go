package store_test

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
	"github.com/raftkv/raftkv/store"
)

// TestStore_ApplyPutGetDelete runs one sequence of entries against one
// store; each step checks the Result and then the key it touched.
func TestStore_ApplyPutGetDelete(t *testing.T) {
	s := mustOpen(t)
	kv := func(key, value string, create, mod uint64) *store.KeyValue {
		return &store.KeyValue{Key: []byte(key), Value: []byte(value), CreateIndex: create, ModIndex: mod}
	}
	steps := []struct {
		name  string
		index uint64
		data  []byte
		want  store.Result
		key   string
		// wantKV is the key's state after the step; nil means missing.
		wantKV *store.KeyValue
	}{
		{"put creates", 1, putCmd(t, "a", "1"), store.Result{Index: 1, Op: store.OpPut}, "a", kv("a", "1", 1, 1)},
		{"put other key", 2, putCmd(t, "b", "2"), store.Result{Index: 2, Op: store.OpPut}, "b", kv("b", "2", 2, 2)},
		{"put updates keeps create index", 3, putCmd(t, "a", "3"), store.Result{Index: 3, Op: store.OpPut}, "a", kv("a", "3", 1, 3)},
		{"other key untouched", 4, putCmd(t, "c", ""), store.Result{Index: 4, Op: store.OpPut}, "b", kv("b", "2", 2, 2)},
		{"empty value", 5, putCmd(t, "e", ""), store.Result{Index: 5, Op: store.OpPut}, "e", kv("e", "", 5, 5)},
		{"delete existing", 6, delCmd(t, "a"), store.Result{Index: 6, Op: store.OpDelete, Deleted: true}, "a", nil},
		{"delete missing", 7, delCmd(t, "a"), store.Result{Index: 7, Op: store.OpDelete, Deleted: false}, "a", nil},
		{"put recreates with new create index", 8, putCmd(t, "a", "4"), store.Result{Index: 8, Op: store.OpPut}, "a", kv("a", "4", 8, 8)},
		{"index gap is fine", 20, putCmd(t, "a", "5"), store.Result{Index: 20, Op: store.OpPut}, "a", kv("a", "5", 8, 20)},
		{"binary key", 21, putCmd(t, "\x00\xff", "bin"), store.Result{Index: 21, Op: store.OpPut}, "\x00\xff", kv("\x00\xff", "bin", 21, 21)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got := mustApply(t, s, st.index, st.data)
			if got != st.want {
				t.Fatalf("Apply = %+v, want %+v", got, st.want)
			}
			if ai := s.AppliedIndex(); ai != st.index {
				t.Fatalf("AppliedIndex = %d, want %d", ai, st.index)
			}
			gotKV, err := s.Get([]byte(st.key))
			if st.wantKV == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Get(%q) = %+v, %v; want ErrNotFound", st.key, gotKV, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get(%q): %v", st.key, err)
			}
			if !equalKV(gotKV, *st.wantKV) {
				t.Fatalf("Get(%q) = %+v, want %+v", st.key, gotKV, *st.wantKV)
			}
		})
	}
}

// TestStore_ApplyUserError feeds commands that bypass the constructors'
// validation: Apply must report them in Result.Err, change no data and
// still advance the applied index.
func TestStore_ApplyUserError(t *testing.T) {
	encode := func(cmd *fsmpb.Command) []byte {
		cmd.Format = 1
		b, err := proto.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put := func(key, value []byte) []byte {
		return encode(&fsmpb.Command{Op: &fsmpb.Command_Put{Put: &fsmpb.Put{Key: key, Value: value}}})
	}
	tests := []struct {
		name   string
		data   []byte
		wantOp store.Op
	}{
		{"put empty key", put(nil, []byte("v")), store.OpPut},
		{"put key too long", put(bytes.Repeat([]byte("k"), store.MaxKeyBytes+1), nil), store.OpPut},
		{"put value too long", put([]byte("k"), make([]byte, store.MaxValueBytes+1)), store.OpPut},
		{"delete empty key", encode(&fsmpb.Command{Op: &fsmpb.Command_Delete{Delete: &fsmpb.Delete{}}}), store.OpDelete},
		{"node meta empty id", encode(&fsmpb.Command{Op: &fsmpb.Command_SetNodeMeta{SetNodeMeta: &fsmpb.SetNodeMeta{GrpcAddr: "x:1"}}}), store.OpSetNodeMeta},
	}
	s := mustOpen(t)
	mustApply(t, s, 1, putCmd(t, "k", "orig"))
	mustApply(t, s, 2, metaCmd(t, "n1", "g:1", "r:1"))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mustState(t, s)
			index := uint64(10 + i)
			res := mustApply(t, s, index, tt.data)
			if !errors.Is(res.Err, store.ErrInvalidArgument) {
				t.Fatalf("Result.Err = %v, want ErrInvalidArgument", res.Err)
			}
			if res.Op != tt.wantOp || res.Index != index || res.Skipped || res.Deleted {
				t.Fatalf("Result = %+v, want Op %v at index %d", res, tt.wantOp, index)
			}
			want := before
			want.applied = index
			assertState(t, mustState(t, s), want)
		})
	}
}

// TestStore_ApplyCorruptEntry checks that undecodable entries and unknown
// formats or operations are fatal ErrCorruptEntry errors that change
// nothing, not panics.
func TestStore_ApplyCorruptEntry(t *testing.T) {
	marshal := func(cmd *fsmpb.Command) []byte {
		b, err := proto.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := putCmd(t, "k", "v")
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff, 0xff}},
		{"truncated", valid[:len(valid)-1]},
		{"json", []byte(`{"op":"put","key":"k"}`)},
		{"format zero", marshal(&fsmpb.Command{Op: &fsmpb.Command_Delete{Delete: &fsmpb.Delete{Key: []byte("k")}}})},
		{"format three", marshal(&fsmpb.Command{Format: 3, Op: &fsmpb.Command_Delete{Delete: &fsmpb.Delete{Key: []byte("k")}}})},
		{"format one without op", marshal(&fsmpb.Command{Format: 1})},
		// Field 9 stands in for an operation added by a newer version.
		{"unknown op from newer version", append(marshal(&fsmpb.Command{Format: 1}), 0x4a, 0x00)},
		{"invalid utf8 node id", append(marshal(&fsmpb.Command{Format: 1}), 0x22, 0x03, 0x0a, 0x01, 0xff)},
	}
	s := mustOpen(t)
	mustApply(t, s, 1, putCmd(t, "k", "v"))
	mustApply(t, s, 2, metaCmd(t, "n1", "g:1", "r:1"))
	before := mustState(t, s)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index := uint64(10 + i)
			res, err := s.Apply(index, tt.data)
			if !errors.Is(err, store.ErrCorruptEntry) {
				t.Fatalf("Apply error = %v, want ErrCorruptEntry", err)
			}
			if res.Skipped || res.Err != nil {
				t.Fatalf("Result = %+v, want zero apart from Index", res)
			}
			assertState(t, mustState(t, s), before)
		})
	}
}

// TestStore_ApplySkipsOldEntries checks that an entry at or below the
// applied index is neither decoded nor applied.
func TestStore_ApplySkipsOldEntries(t *testing.T) {
	s := mustOpen(t)
	mustApply(t, s, 5, putCmd(t, "k", "v5"))
	before := mustState(t, s)
	for _, tc := range []struct {
		name  string
		index uint64
		data  []byte
	}{
		{"same index", 5, putCmd(t, "k", "again")},
		{"lower index", 3, delCmd(t, "k")},
		{"index zero", 0, putCmd(t, "z", "z")},
		{"old garbage is not decoded", 4, []byte("garbage")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Apply(tc.index, tc.data)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if want := (store.Result{Index: tc.index, Skipped: true}); res != want {
				t.Fatalf("Result = %+v, want %+v", res, want)
			}
			assertState(t, mustState(t, s), before)
		})
	}
}

// TestStore_ApplyClosed checks that a closed store refuses to apply.
func TestStore_ApplyClosed(t *testing.T) {
	s := mustOpen(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(1, putCmd(t, "k", "v")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Apply after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Get([]byte("k")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Snapshot(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Snapshot after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
}

// TestOp_String covers the log names of the operations.
func TestOp_String(t *testing.T) {
	for op, want := range map[store.Op]string{
		store.OpPut: "put", store.OpDelete: "delete", store.OpSetNodeMeta: "set_node_meta", 0: "Op(0)",
	} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", int(op), got, want)
		}
	}
}
