package store

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// FuzzDecodeKeyValue holds decodeKeyValue, which reads fsmpb.StoredValue's
// wire format by hand, to proto.Unmarshal: for any bytes both accept or
// both refuse, and when they accept they agree on every field.
// Run: go test -run XXX -fuzz FuzzDecodeKeyValue ./store/
func FuzzDecodeKeyValue(f *testing.F) {
	for _, sv := range []*fsmpb.StoredValue{
		{},
		{Value: []byte("v"), CreateIndex: 1, ModIndex: 2},
		{Value: bytes.Repeat([]byte{0xff}, 300), CreateIndex: 1 << 40, ModIndex: 1<<64 - 1},
	} {
		b, err := proto.Marshal(sv)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Unknown fields, a repeated value (the last wins), a wrong wire type
	// (kept as unknown by proto), and damage.
	f.Add(protowire.AppendString(protowire.AppendTag([]byte{0x0a, 0x01, 'a'}, 9, protowire.BytesType), "extra"))
	f.Add([]byte{0x0a, 0x01, 'a', 0x0a, 0x02, 'b', 'c', 0x10, 0x05})
	f.Add([]byte{0x08, 0x05, 0x18, 0x07})
	f.Add([]byte{0x0a, 0x05, 'a'})
	f.Add([]byte{0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeKeyValue([]byte("k"), b)
		var want fsmpb.StoredValue
		werr := proto.Unmarshal(b, &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeKeyValue(%x) error %v, proto.Unmarshal error %v", b, err, werr)
		}
		if err != nil {
			return
		}
		wantValue := want.GetValue()
		if wantValue == nil {
			wantValue = []byte{}
		}
		if !bytes.Equal(got.Value, wantValue) || got.Value == nil || got.CreateIndex != want.GetCreateIndex() ||
			got.ModIndex != want.GetModIndex() || string(got.Key) != "k" {
			t.Fatalf("decodeKeyValue(%x) = %+v, proto.Unmarshal = %v", b, got, &want)
		}
	})
}

// TestDecodeKeyValue_OwnsItsMemory: the decoded key and value do not alias
// the transaction's bytes, which bbolt reuses after the transaction.
func TestDecodeKeyValue_OwnsItsMemory(t *testing.T) {
	k := []byte("key")
	v, err := proto.Marshal(&fsmpb.StoredValue{Value: []byte("value"), CreateIndex: 3, ModIndex: 4})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := decodeKeyValue(k, v)
	if err != nil {
		t.Fatal(err)
	}
	for i := range k {
		k[i] = 'x'
	}
	for i := range v {
		v[i] = 0
	}
	if string(kv.Key) != "key" || string(kv.Value) != "value" || kv.CreateIndex != 3 || kv.ModIndex != 4 {
		t.Fatalf("after the source bytes changed: %+v", kv)
	}
}
