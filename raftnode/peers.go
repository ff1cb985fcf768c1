package raftnode

import (
	"maps"
	"time"

	"github.com/hashicorp/raft"
)

// Peer health, as the leader sees it. hashicorp/raft's leader heartbeats
// every server in the configuration (non-voters included) and tells
// observers when heartbeats to a peer start failing
// (FailedHeartbeatObservation, repeated with backoff, carrying the last
// successful contact) and when they resume (ResumedHeartbeatObservation).
// This file keeps that as a map of failing peers; dead-member cleanup
// reads it through FailingPeers.

// startPeerHealth registers the heartbeat observer and its loop. The
// observer is blocking so that a "resumed" event, which is sent once, is
// never dropped; the loop only updates a map, so it never stalls raft.
func (n *Node) startPeerHealth() {
	n.hbObserver = raft.NewObserver(n.hbCh, true, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(n.hbObserver)
	n.wg.Go(n.peerHealthLoop)
}

func (n *Node) peerHealthLoop() {
	for {
		select {
		case <-n.done:
			return
		case o := <-n.hbCh:
			n.recordHeartbeat(o, time.Now())
		}
	}
}

// recordHeartbeat updates the failing map from one observation.
func (n *Node) recordHeartbeat(o raft.Observation, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch d := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		id := NodeID(d.PeerID)
		if _, ok := n.failing[id]; ok {
			return // keep the first record: LastContact does not move while failing
		}
		last := d.LastContact
		if last.IsZero() || last.After(now) {
			last = now
		}
		n.failing[id] = last
		n.log.Warn("heartbeats to peer failing", "member_id", string(id), "last_contact", last)
	case raft.ResumedHeartbeatObservation:
		id := NodeID(d.PeerID)
		if _, ok := n.failing[id]; ok {
			delete(n.failing, id)
			n.log.Info("heartbeats to peer resumed", "member_id", string(id))
		}
	}
}

// resetPeerHealthLocked forgets every failing peer; called with n.mu held when
// the leader changes, since only a leader's own heartbeats count.
func (n *Node) resetPeerHealthLocked() {
	clear(n.failing)
}

// FailingPeers returns, while this node leads, every peer whose heartbeats
// are failing, with the time of the last successful contact (or of the
// start of replication to it, if there never was one). A peer absent from
// the map is being heard from. On a follower the map is empty. The result
// is a copy the caller may keep.
func (n *Node) FailingPeers() map[NodeID]time.Time {
	if n.raft.State() != raft.Leader {
		return map[NodeID]time.Time{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.failing)
}

// forgetPeer drops id's heartbeat record after a change to its membership,
// so a node removed and added again does not start out looking dead.
func (n *Node) forgetPeer(id NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.failing, id)
}
