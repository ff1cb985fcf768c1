package client

import (
	"time"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// Header describes the node that answered a request.
type Header struct {
	// NodeID is the id of the node that served the request.
	NodeID string
	// LeaderID is the leader's id as the serving node knows it ("" if none).
	LeaderID string
	// LeaderAddr is the leader's client gRPC address ("" if unknown).
	LeaderAddr string
	// Term is the serving node's raft term.
	Term uint64
	// AppliedIndex is the last raft index applied by the serving node.
	AppliedIndex uint64
	// LeaderKnown is true when the serving node knew a current leader.
	LeaderKnown bool
	// LastContact is how long ago the serving node last heard from a leader,
	// with millisecond precision: 0 on a leader holding its lease, -1 if it
	// never has since it started.
	LastContact time.Duration
	// Degraded is true when the answer was served in degraded mode: the node
	// had lost contact with a quorum, so the data may be stale. It is also
	// set on a WithDegradedReads fallback.
	Degraded bool
	// Consistency is the level a read was actually served at; 0 (no level)
	// on writes and other calls.
	Consistency Consistency
}

// KeyValue is one stored key.
type KeyValue struct {
	// Key is the key.
	Key string
	// Value is the stored value. It is never nil for a key read with Get or
	// List (an empty value is an empty slice), so it can be passed to
	// CompareAndSwap as the expected value.
	Value []byte
	// CreateIndex is the raft index of the write that created the key.
	CreateIndex uint64
	// ModIndex is the raft index of the last write to the key.
	ModIndex uint64
}

// PutResponse is the result of Put and PutIf.
type PutResponse struct {
	// Header describes the serving node.
	Header Header
	// Index is the raft log index at which the write was committed; after a
	// successful write it is the key's new ModIndex.
	Index uint64
	// Succeeded is false when PutIf's condition did not hold and nothing
	// was written. Always true for Put.
	Succeeded bool
	// Current is, when Succeeded is false, the key's state that failed the
	// condition; nil when the key does not exist.
	Current *KeyValue
	// CurrentValueOmitted is true when Current carries the key's indexes
	// but not its value (Value is nil): the answer to a retried write whose
	// key has been written since the condition was checked (the server
	// keeps no values in its table of results). Read the key for its
	// present value.
	CurrentValueOmitted bool
}

// GetResponse is the result of Get.
type GetResponse struct {
	// Header describes the serving node.
	Header Header
	// KV is the key and its value.
	KV KeyValue
}

// DeleteResponse is the result of Delete and DeleteIf.
type DeleteResponse struct {
	// Header describes the serving node.
	Header Header
	// Index is the raft log index at which the delete was committed.
	Index uint64
	// Deleted is true when the key existed and was removed.
	Deleted bool
	// Succeeded is false when DeleteIf's condition did not hold and nothing
	// was deleted. Always true for Delete.
	Succeeded bool
	// Current is, when Succeeded is false, the key's state that failed the
	// condition; nil when the key does not exist.
	Current *KeyValue
	// CurrentValueOmitted: as in PutResponse.
	CurrentValueOmitted bool
}

// ListResponse is the result of List.
type ListResponse struct {
	// Header describes the serving node.
	Header Header
	// KVs are the matching keys in ascending byte order.
	KVs []KeyValue
	// More is true when further keys matched beyond the limit.
	More bool
}

// Member is one server in the cluster's raft configuration.
type Member struct {
	// ID is the node's stable id.
	ID string
	// GRPCAddr is the node's client gRPC address ("" until it registered).
	GRPCAddr string
	// RaftAddr is the node's raft transport address.
	RaftAddr string
	// Voter is true for voting members.
	Voter bool
	// Leader is true for the leader as the answering node sees it.
	Leader bool
}

// Status is one node's own view of its raft state.
type Status struct {
	// Header describes the serving node.
	Header Header
	// ID is the node's id.
	ID string
	// GRPCAddr is the node's client gRPC address.
	GRPCAddr string
	// RaftAddr is the node's raft address.
	RaftAddr string
	// Role is "leader", "follower", "candidate" or "shutdown".
	Role string
	// Voter is true when the node is a voting member.
	Voter bool
	// Term is the node's current term.
	Term uint64
	// LastLogIndex is the index of the last entry in the node's log.
	LastLogIndex uint64
	// CommitIndex is the highest index the node knows to be committed.
	CommitIndex uint64
	// AppliedIndex is the last index applied to the node's state machine.
	AppliedIndex uint64
	// LastContact is the time since the node last heard from a leader, with
	// millisecond precision: 0 on the leader, -1 if never.
	LastContact time.Duration
}

// headerFrom converts a wire header.
func headerFrom(h *kvpb.ResponseHeader) Header {
	return Header{
		NodeID:       h.GetNodeId(),
		LeaderID:     h.GetLeaderId(),
		LeaderAddr:   h.GetLeaderAddr(),
		Term:         h.GetTerm(),
		AppliedIndex: h.GetAppliedIndex(),
		LeaderKnown:  h.GetLeaderKnown(),
		LastContact:  millis(h.GetLastContactMs()),
		Degraded:     h.GetDegraded(),
		Consistency:  consistencyFrom(h.GetConsistency()),
	}
}

// millis converts a wire millisecond count where negative means never.
func millis(ms int64) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

// keyValueFrom converts a wire key-value of an existing key. An empty value
// arrives as nil (proto3 does not send it); it becomes an empty slice so
// that nil keeps meaning "no such key" to CompareAndSwap.
func keyValueFrom(kv *kvpb.KeyValue) KeyValue {
	value := kv.GetValue()
	if value == nil {
		value = []byte{}
	}
	return KeyValue{
		Key:         string(kv.GetKey()),
		Value:       value,
		CreateIndex: kv.GetCreateIndex(),
		ModIndex:    kv.GetModIndex(),
	}
}

// currentFrom converts the key state a failed condition reports: nil when
// the key does not exist, and a nil Value when the server omitted it.
func currentFrom(kv *kvpb.KeyValue, omitted bool) *KeyValue {
	if kv == nil {
		return nil
	}
	c := keyValueFrom(kv)
	if omitted {
		c.Value = nil
	}
	return &c
}

// memberFrom converts a wire member.
func memberFrom(m *kvpb.Member) Member {
	return Member{
		ID:       m.GetId(),
		GRPCAddr: m.GetGrpcAddr(),
		RaftAddr: m.GetRaftAddr(),
		Voter:    m.GetVoter(),
		Leader:   m.GetLeader(),
	}
}

// statusFrom converts a wire status.
func statusFrom(s *kvpb.StatusResponse) *Status {
	return &Status{
		Header:       headerFrom(s.GetHeader()),
		ID:           s.GetId(),
		GRPCAddr:     s.GetGrpcAddr(),
		RaftAddr:     s.GetRaftAddr(),
		Role:         s.GetRole(),
		Voter:        s.GetVoter(),
		Term:         s.GetTerm(),
		LastLogIndex: s.GetLastLogIndex(),
		CommitIndex:  s.GetCommitIndex(),
		AppliedIndex: s.GetAppliedIndex(),
		LastContact:  millis(s.GetLastContactMs()),
	}
}
