package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
)

// fakeClient is a scripted kvClient, so commands run without a cluster.
type fakeClient struct {
	mu sync.Mutex
	// The fields below are guarded by mu.
	cfg     client.Config              // config kvctl built from its flags
	kvs     map[string]client.KeyValue // Get and List answers
	err     error                      // if set, every KV call fails with it
	members []client.Member
	status  map[string]*client.Status // by gRPC address; missing means unreachable
	listed  string                    // last List prefix
	opts    int                       // read options passed to the last Get or List
	header  *client.Header            // if set, the header of Get and List answers
	closed  bool
	changes []string // membership calls, e.g. "add n4 r g nonvoter=true"
	memErr  error    // if set, every membership call fails with it
}

var testHeader = client.Header{NodeID: "n1", LeaderID: "n1", LeaderAddr: "127.0.0.1:7001", Term: 2, AppliedIndex: 9}

func (f *fakeClient) Put(_ context.Context, key string, value []byte) (*client.PutResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.kvs[key] = client.KeyValue{Key: key, Value: value, CreateIndex: 10, ModIndex: 10}
	return &client.PutResponse{Header: testHeader, Index: 10, Succeeded: true}, nil
}

func (f *fakeClient) PutIf(_ context.Context, key string, value []byte, modIndex uint64) (*client.PutResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	kv, ok := f.kvs[key]
	if (modIndex == 0 && ok) || (modIndex != 0 && (!ok || kv.ModIndex != modIndex)) {
		resp := &client.PutResponse{Header: testHeader, Index: 10}
		if ok {
			resp.Current = &kv
		}
		return resp, nil
	}
	f.kvs[key] = client.KeyValue{Key: key, Value: value, CreateIndex: 10, ModIndex: 10}
	return &client.PutResponse{Header: testHeader, Index: 10, Succeeded: true}, nil
}

func (f *fakeClient) CompareAndSwap(_ context.Context, key string, oldValue, newValue []byte) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	kv, ok := f.kvs[key]
	if (oldValue == nil && ok) || (oldValue != nil && (!ok || !bytes.Equal(kv.Value, oldValue))) {
		return false, nil
	}
	f.kvs[key] = client.KeyValue{Key: key, Value: newValue, CreateIndex: 10, ModIndex: 10}
	return true, nil
}

func (f *fakeClient) DeleteIf(_ context.Context, key string, modIndex uint64) (*client.DeleteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	kv, ok := f.kvs[key]
	if (modIndex == 0 && ok) || (modIndex != 0 && (!ok || kv.ModIndex != modIndex)) {
		resp := &client.DeleteResponse{Header: testHeader, Index: 11}
		if ok {
			resp.Current = &kv
		}
		return resp, nil
	}
	delete(f.kvs, key)
	return &client.DeleteResponse{Header: testHeader, Index: 11, Deleted: ok, Succeeded: true}, nil
}

func (f *fakeClient) Get(_ context.Context, key string, opts ...client.ReadOption) (*client.GetResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts = len(opts)
	if f.err != nil {
		return nil, f.err
	}
	kv, ok := f.kvs[key]
	if !ok {
		return nil, fmt.Errorf("%w: key %q", client.ErrNotFound, key)
	}
	return &client.GetResponse{Header: f.readHeader(), KV: kv}, nil
}

// readHeader is the header of a Get or List answer. f.mu is held.
func (f *fakeClient) readHeader() client.Header {
	if f.header != nil {
		return *f.header
	}
	return testHeader
}

func (f *fakeClient) Delete(_ context.Context, key string) (*client.DeleteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	_, ok := f.kvs[key]
	delete(f.kvs, key)
	return &client.DeleteResponse{Header: testHeader, Index: 11, Deleted: ok, Succeeded: true}, nil
}

func (f *fakeClient) List(_ context.Context, prefix string, opts ...client.ReadOption) (*client.ListResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed = prefix
	f.opts = len(opts)
	if f.err != nil {
		return nil, f.err
	}
	// Keys in byte order; the fake holds only a/1 and a/2 in list tests.
	resp := &client.ListResponse{Header: f.readHeader(), More: true}
	for _, k := range []string{"a/1", "a/2", "b"} {
		if kv, ok := f.kvs[k]; ok && len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			resp.KVs = append(resp.KVs, kv)
		}
	}
	return resp, nil
}

func (f *fakeClient) Members(context.Context) ([]client.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.members, nil
}

func (f *fakeClient) Status(_ context.Context, endpoint string) (*client.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.status[endpoint]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: %s: connection refused", client.ErrUnavailable, endpoint)
}

func (f *fakeClient) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// newFakeClient returns a fakeClient of a three-member cluster whose third
// member is down.
func newFakeClient() *fakeClient {
	return &fakeClient{
		kvs: map[string]client.KeyValue{
			"a/1": {Key: "a/1", Value: []byte("one"), CreateIndex: 3, ModIndex: 4},
			"a/2": {Key: "a/2", Value: []byte("two"), CreateIndex: 5, ModIndex: 5},
		},
		members: []client.Member{
			{ID: "n1", GRPCAddr: "127.0.0.1:7001", RaftAddr: "127.0.0.1:9001", Voter: true, Leader: true},
			{ID: "n2", GRPCAddr: "127.0.0.1:7002", RaftAddr: "127.0.0.1:9002", Voter: true},
			{ID: "n3", GRPCAddr: "127.0.0.1:7003", RaftAddr: "127.0.0.1:9003", Voter: true},
		},
		status: map[string]*client.Status{
			"127.0.0.1:7001": {Header: testHeader, ID: "n1", GRPCAddr: "127.0.0.1:7001", RaftAddr: "127.0.0.1:9001",
				Role: "leader", Voter: true, Term: 2, LastLogIndex: 12, CommitIndex: 12, AppliedIndex: 12},
			"127.0.0.1:7002": {Header: testHeader, ID: "n2", GRPCAddr: "127.0.0.1:7002", RaftAddr: "127.0.0.1:9002",
				Role: "follower", Voter: true, Term: 2, LastLogIndex: 12, CommitIndex: 11, AppliedIndex: 9,
				LastContact: 40 * time.Millisecond},
		},
	}
}

// result is the outcome of one kvctl invocation.
type result struct {
	code           int
	stdout, stderr string
}

// runWith runs kvctl with args against fc and the given environment.
func runWith(t *testing.T, fc *fakeClient, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{
		stdout: &stdout,
		stderr: &stderr,
		env:    func(k string) string { return env[k] },
		dial: func(cfg client.Config) (kvClient, error) {
			fc.mu.Lock()
			defer fc.mu.Unlock()
			fc.cfg = cfg
			return fc, nil
		},
	}
	code := a.execute(args)
	return result{code, stdout.String(), stderr.String()}
}

func (f *fakeClient) change(c string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.memErr != nil {
		return f.memErr
	}
	f.changes = append(f.changes, c)
	return nil
}

func (f *fakeClient) AddMember(_ context.Context, id, raftAddr, grpcAddr string, nonvoter bool) error {
	return f.change(fmt.Sprintf("add %s %s %s nonvoter=%v", id, raftAddr, grpcAddr, nonvoter))
}

func (f *fakeClient) RemoveMember(_ context.Context, id string) error {
	return f.change("remove " + id)
}

func (f *fakeClient) PromoteMember(_ context.Context, id string) error {
	return f.change("promote " + id)
}

func (f *fakeClient) TransferLeadership(_ context.Context, toID string) error {
	return f.change("transfer " + toID)
}
