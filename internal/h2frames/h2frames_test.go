package h2frames

import (
	"sync/atomic"
	"testing"
)

// frame returns an HTTP/2 frame header and payload.
func frame(typ, flags byte, payload int) []byte {
	b := []byte{byte(payload >> 16), byte(payload >> 8), byte(payload), typ, flags, 0, 0, 0, 0}
	return append(b, make([]byte, payload)...)
}

// TestParser_CountsPingsAcrossSplitWrites feeds frames in every split, so
// headers and payloads straddle calls, and checks that only PINGs that are
// not acks are counted, and the preface is skipped.
func TestParser_CountsPingsAcrossSplitWrites(t *testing.T) {
	var stream []byte
	stream = append(stream, clientPreface...)
	stream = append(stream, frame(0x4, 0, 12)...)            // SETTINGS
	stream = append(stream, frame(framePing, 0, 8)...)       // PING
	stream = append(stream, frame(0x0, 0, 300)...)           // DATA
	stream = append(stream, frame(framePing, flagAck, 8)...) // PING ack
	stream = append(stream, frame(0x8, 0, 4)...)             // WINDOW_UPDATE
	stream = append(stream, frame(framePing, 0, 8)...)       // PING
	for chunk := 1; chunk <= len(stream); chunk++ {
		var pings atomic.Int64
		p := &parser{skip: len(clientPreface), pings: &pings}
		for b := stream; len(b) > 0; {
			n := min(chunk, len(b))
			p.feed(b[:n])
			b = b[n:]
		}
		if got := pings.Load(); got != 2 {
			t.Fatalf("chunks of %d bytes: counted %d PINGs, want 2", chunk, got)
		}
	}
}
