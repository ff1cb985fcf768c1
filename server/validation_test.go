package server_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/server/servertest"
	"github.com/raftkv/raftkv/store"
)

// call is one request to send, with the phrase its refusal must contain
// ("" when it must be accepted).
type call struct {
	name string
	send func(ctx context.Context, cc *grpc.ClientConn) error
	fix  string
}

// sized returns a Put whose encoding is exactly n bytes.
func sized(t *testing.T, n int) *kvpb.PutRequest {
	t.Helper()
	req := &kvpb.PutRequest{Key: []byte("k")}
	for v := n - 16; v < n; v++ {
		req.Value = make([]byte, v)
		if proto.Size(req) == n {
			return req
		}
	}
	t.Fatalf("no Put encodes to %d bytes", n)
	return nil
}

// TestValidation_Boundaries sends requests at limit-1, limit and limit+1
// for every limit of every entry point, to a follower and to the leader.
// Each refused request gets InvalidArgument with a message saying what to
// fix, and no refused request adds to any node's raft log.
func TestValidation_Boundaries(t *testing.T) {
	c := servertest.StartCluster(t, 3, nil)
	leader := c.Leader(leaderWait)
	targets := map[string]int{"leader": leader, "follower": (leader + 1) % 3}
	key := func(n int) []byte { return bytes.Repeat([]byte("k"), n) }
	val := func(n int) []byte { return make([]byte, n) }
	put := func(req *kvpb.PutRequest) func(context.Context, *grpc.ClientConn) error {
		return func(ctx context.Context, cc *grpc.ClientConn) error {
			_, err := kvpb.NewKVClient(cc).Put(ctx, req)
			return err
		}
	}
	get := func(req *kvpb.GetRequest) func(context.Context, *grpc.ClientConn) error {
		return func(ctx context.Context, cc *grpc.ClientConn) error {
			_, err := kvpb.NewKVClient(cc).Get(ctx, req)
			if status.Code(err) == codes.NotFound {
				return nil // valid request, absent key
			}
			return err
		}
	}
	del := func(req *kvpb.DeleteRequest) func(context.Context, *grpc.ClientConn) error {
		return func(ctx context.Context, cc *grpc.ClientConn) error {
			_, err := kvpb.NewKVClient(cc).Delete(ctx, req)
			return err
		}
	}
	cas := func(req *kvpb.CompareAndSwapRequest) func(context.Context, *grpc.ClientConn) error {
		return func(ctx context.Context, cc *grpc.ClientConn) error {
			_, err := kvpb.NewKVClient(cc).CompareAndSwap(ctx, req)
			return err
		}
	}
	list := func(req *kvpb.ListRequest) func(context.Context, *grpc.ClientConn) error {
		return func(ctx context.Context, cc *grpc.ClientConn) error {
			_, err := kvpb.NewKVClient(cc).List(ctx, req)
			return err
		}
	}
	join := func(req *kvpb.JoinRequest) func(context.Context, *grpc.ClientConn) error {
		return func(ctx context.Context, cc *grpc.ClientConn) error {
			_, err := kvpb.NewClusterClient(cc).Join(ctx, req)
			return err
		}
	}
	const K, V, L = store.MaxKeyBytes, store.MaxValueBytes, store.MaxListLimit
	refused := []call{
		{"put key empty", put(&kvpb.PutRequest{}), "key is empty"},
		{"put key limit+1", put(&kvpb.PutRequest{Key: key(K + 1)}), "key is 4097 bytes; the limit is 4096 bytes"},
		{"put value limit+1", put(&kvpb.PutRequest{Key: key(1), Value: val(V + 1)}), "value is 1048577 bytes; the limit is 1048576 bytes"},
		{"put request size limit-1", put(sized(t, rpc.MaxRequestBytes-1)), "value is"},
		{"put request size at limit", put(sized(t, rpc.MaxRequestBytes)), "value is"},
		{"put request size limit+1", put(sized(t, rpc.MaxRequestBytes+1)), "request is 2166785 bytes; the limit is 2166784 bytes"},
		{"get key empty", get(&kvpb.GetRequest{}), "key is empty"},
		{"get key limit+1", get(&kvpb.GetRequest{Key: key(K + 1)}), "the limit is 4096 bytes"},
		{"get bounded without bound", get(&kvpb.GetRequest{Key: key(1), Read: &kvpb.ReadOptions{Consistency: kvpb.Consistency_BOUNDED}}), "max_staleness_ms > 0"},
		{"delete key empty", del(&kvpb.DeleteRequest{}), "key is empty"},
		{"delete key limit+1", del(&kvpb.DeleteRequest{Key: key(K + 1)}), "the limit is 4096 bytes"},
		{"cas key limit+1", cas(&kvpb.CompareAndSwapRequest{Key: key(K + 1)}), "the limit is 4096 bytes"},
		{"cas new value limit+1", cas(&kvpb.CompareAndSwapRequest{Key: key(1), NewValue: val(V + 1)}), "value is 1048577 bytes"},
		{"cas expected value limit+1", cas(&kvpb.CompareAndSwapRequest{Key: key(1), ExpectedValue: val(V + 1)}), "expected_value is 1048577 bytes"},
		{"list prefix limit+1", list(&kvpb.ListRequest{Prefix: key(K + 1)}), "prefix is 4097 bytes"},
		{"list limit -1", list(&kvpb.ListRequest{Limit: -1}), "limit is -1"},
		{"list limit max+1", list(&kvpb.ListRequest{Limit: L + 1}), "limit is 10001"},
		{"join id empty", join(&kvpb.JoinRequest{RaftAddr: "127.0.0.1:1", GrpcAddr: "127.0.0.1:2"}), "id is empty"},
		{"join id limit+1", join(&kvpb.JoinRequest{Id: strings.Repeat("n", store.MaxNodeFieldBytes+1), RaftAddr: "127.0.0.1:1", GrpcAddr: "127.0.0.1:2"}), "id is 1025 bytes"},
		{"join address not host:port", join(&kvpb.JoinRequest{Id: "n9", RaftAddr: "nowhere", GrpcAddr: "127.0.0.1:2"}), "raft_addr \"nowhere\" is not host:port"},
	}
	ctx := ctxTimeout(t, time.Minute)
	// An election appends a no-op entry of its own; on a loaded machine one
	// can happen mid-batch, so a batch that saw a new term is run again.
	for attempt := 1; ; attempt++ {
		servertest.WaitFor(t, leaderWait, "every node's log at the same index", func() bool {
			idx := lastIndexes(c)
			return slices.Min(idx) == slices.Max(idx)
		})
		term, before := c.Node(c.Leader(leaderWait)).Node().Status().Term, lastIndexes(c)
		for name, i := range targets {
			cc := dial(t, c.Endpoints()[i])
			for _, tc := range refused {
				t.Run(name+"/"+tc.name, func(t *testing.T) {
					err := tc.send(ctx, cc)
					if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.fix) {
						t.Fatalf("got %v; want InvalidArgument saying %q", err, tc.fix)
					}
				})
			}
		}
		after := lastIndexes(c)
		if c.Node(c.Leader(leaderWait)).Node().Status().Term != term && attempt < 3 {
			t.Logf("an election happened during the batch; running it again")
			continue
		}
		if !slices.Equal(before, after) {
			t.Fatalf("raft last index changed from %v to %v after only refused requests", before, after)
		}
		break
	}

	// The same limits, just met, are accepted (through the follower, which
	// forwards writes and linearizable reads).
	accepted := []call{
		{"put key limit-1", put(&kvpb.PutRequest{Key: key(K - 1)}), ""},
		{"put key at limit", put(&kvpb.PutRequest{Key: key(K)}), ""},
		{"put value limit-1", put(&kvpb.PutRequest{Key: key(1), Value: val(V - 1)}), ""},
		{"put value at limit", put(&kvpb.PutRequest{Key: key(1), Value: val(V)}), ""},
		{"get key at limit", get(&kvpb.GetRequest{Key: key(K)}), ""},
		{"delete key at limit", del(&kvpb.DeleteRequest{Key: key(K)}), ""},
		{"cas largest request", cas(&kvpb.CompareAndSwapRequest{Key: key(K), ExpectedValue: val(V), NewValue: val(V)}), ""},
		{"list prefix limit-1", list(&kvpb.ListRequest{Prefix: key(K - 1)}), ""},
		{"list prefix at limit", list(&kvpb.ListRequest{Prefix: key(K)}), ""},
		{"list limit 0", list(&kvpb.ListRequest{Limit: 0}), ""},
		{"list limit max", list(&kvpb.ListRequest{Limit: L}), ""},
	}
	cc := dial(t, c.Endpoints()[targets["follower"]])
	for _, tc := range accepted {
		t.Run("accepted/"+tc.name, func(t *testing.T) {
			// A 1 MiB entry on a loaded machine can cost the leader its
			// lease; an election is not what this test is about.
			err := tc.send(ctx, cc)
			for status.Code(err) == codes.Unavailable && ctx.Err() == nil {
				c.Leader(leaderWait)
				err = tc.send(ctx, cc)
			}
			if err != nil {
				t.Fatalf("got %v; want success", err)
			}
		})
	}
}

// TestValidation_InvalidUTF8OnTheWire sends a Join whose id is not UTF-8 as
// raw bytes. Protobuf decoding in gRPC refuses it (Internal, before any
// handler), so it cannot reach raft; in-process callers get
// InvalidArgument from the handler (rpc.TestValidateRequest).
func TestValidation_InvalidUTF8OnTheWire(t *testing.T) {
	c := servertest.StartCluster(t, 1, nil)
	cc := dial(t, c.Endpoints()[0])
	before := lastIndexes(c)
	raw := []byte{0x0a, 0x03, 'n', 0xff, '4', 0x12, 0x03, 'h', ':', '1', 0x1a, 0x03, 'h', ':', '2'}
	var out []byte
	err := cc.Invoke(ctxTimeout(t, 10*time.Second), "/kv.v1.Cluster/Join", raw, &out, grpc.ForceCodec(rawCodec{}))
	if code := status.Code(err); code != codes.Internal && code != codes.InvalidArgument {
		t.Fatalf("Join with invalid UTF-8 = %v; want it refused", err)
	}
	if after := lastIndexes(c); !slices.Equal(before, after) {
		t.Fatalf("raft last index changed from %v to %v", before, after)
	}
}

func lastIndexes(c *servertest.Cluster) []uint64 {
	out := make([]uint64, c.Size())
	for i := range out {
		out[i] = c.Node(i).Node().Status().LastLogIndex
	}
	return out
}

// rawCodec sends []byte as is, to put bytes on the wire that the
// generated client would refuse to encode.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }
