package gateway

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/raftkv/raftkv/client"
)

// memBackend is an in-memory Backend for tests that need no cluster: the
// token, probe and fuzz tests. err, when set, fails every call.
type memBackend struct {
	mu    sync.Mutex
	kvs   map[string]client.KeyValue
	index uint64
	err   error
}

var fakeHeader = client.Header{NodeID: "m1", LeaderID: "m1", LeaderKnown: true}

func (m *memBackend) Put(_ context.Context, key string, value []byte) (*client.PutResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	if m.kvs == nil {
		m.kvs = map[string]client.KeyValue{}
	}
	m.index++
	kv, ok := m.kvs[key]
	if !ok {
		kv.CreateIndex = m.index
	}
	kv.Key, kv.Value, kv.ModIndex = key, append([]byte(nil), value...), m.index
	m.kvs[key] = kv
	return &client.PutResponse{Header: fakeHeader, Index: m.index, Succeeded: true}, nil
}

func (m *memBackend) PutIf(ctx context.Context, key string, value []byte, modIndex uint64) (*client.PutResponse, error) {
	if cur, ok := m.current(key); (!ok && modIndex != 0) || (ok && cur.ModIndex != modIndex) {
		var c *client.KeyValue
		if ok {
			c = &cur
		}
		return &client.PutResponse{Header: fakeHeader, Current: c}, m.failure()
	}
	return m.Put(ctx, key, value)
}

func (m *memBackend) DeleteIf(ctx context.Context, key string, modIndex uint64) (*client.DeleteResponse, error) {
	if cur, ok := m.current(key); ok && cur.ModIndex != modIndex {
		return &client.DeleteResponse{Header: fakeHeader, Current: &cur}, m.failure()
	} else if !ok && modIndex != 0 {
		return &client.DeleteResponse{Header: fakeHeader}, m.failure()
	}
	return m.Delete(ctx, key)
}

func (m *memBackend) current(key string) (client.KeyValue, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kv, ok := m.kvs[key]
	return kv, ok
}

func (m *memBackend) failure() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

func (m *memBackend) Get(_ context.Context, key string, _ ...client.ReadOption) (*client.GetResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	kv, ok := m.kvs[key]
	if !ok {
		return nil, client.ErrNotFound
	}
	return &client.GetResponse{Header: fakeHeader, KV: kv}, nil
}

func (m *memBackend) Delete(_ context.Context, key string) (*client.DeleteResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	_, ok := m.kvs[key]
	delete(m.kvs, key)
	m.index++
	return &client.DeleteResponse{Header: fakeHeader, Index: m.index, Deleted: ok, Succeeded: true}, nil
}

func (m *memBackend) List(_ context.Context, prefix string, _ ...client.ReadOption) (*client.ListResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	out := &client.ListResponse{Header: fakeHeader}
	for k, kv := range m.kvs {
		if strings.HasPrefix(k, prefix) {
			out.KVs = append(out.KVs, kv)
		}
	}
	sort.Slice(out.KVs, func(i, j int) bool { return out.KVs[i].Key < out.KVs[j].Key })
	return out, nil
}

func (m *memBackend) Members(context.Context) ([]client.Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	return []client.Member{{ID: "m1", GRPCAddr: "mem:1", RaftAddr: "mem:2", Voter: true, Leader: true}}, nil
}

func (m *memBackend) Status(_ context.Context, endpoint string) (*client.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	return &client.Status{Header: fakeHeader, ID: "m1", GRPCAddr: endpoint, Role: "leader", Voter: true}, nil
}

func (m *memBackend) setErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}
