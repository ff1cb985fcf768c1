package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// minIndexWait bounds how long a stale read waits for this node to apply the
// caller's min_index before refusing, so that a lagging node hands the read
// to another one quickly instead of holding it.
const minIndexWait = time.Second

// prepareRead makes the local state machine fit to answer a read at the
// requested consistency and returns the level actually used. A
// linearizable read that fails with "not leader" is forwarded by the
// caller; every other error is final for this node.
//
//   - LINEARIZABLE (the default): raftnode's ReadIndex recipe on the leader.
//   - STALE: local data as it is, after waiting for min_index if given.
//   - BOUNDED: as STALE, but refused when the data's age exceeds
//     max_staleness_ms. Age is the time since this node last heard from a
//     leader, counted only once it has applied everything that leader told
//     it was committed (0 on the leader, which steps down when it loses its
//     quorum lease). The bound is therefore honest up to one heartbeat: the
//     commit index a leader piggybacks may trail its own by one round.
func (s *Server) prepareRead(ctx context.Context, ro *kvpb.ReadOptions) (kvpb.Consistency, error) {
	switch c := ro.GetConsistency(); c {
	case kvpb.Consistency_CONSISTENCY_UNSPECIFIED, kvpb.Consistency_LINEARIZABLE:
		return kvpb.Consistency_LINEARIZABLE, s.node.LinearizableRead(ctx)
	case kvpb.Consistency_STALE:
		return c, s.waitMinIndex(ctx, ro.GetMinIndex())
	case kvpb.Consistency_BOUNDED:
		if ro.GetMaxStalenessMs() <= 0 {
			return c, invalidArgument("bounded reads need max_staleness_ms > 0; got %d", ro.GetMaxStalenessMs())
		}
		if err := s.checkAge(ctx, time.Duration(ro.GetMaxStalenessMs())*time.Millisecond); err != nil {
			return c, err
		}
		return c, s.waitMinIndex(ctx, ro.GetMinIndex())
	default:
		return c, invalidArgument("unknown consistency %d; use LINEARIZABLE, STALE or BOUNDED", c)
	}
}

// checkAge refuses the read when this node's data may be older than bound.
func (s *Server) checkAge(ctx context.Context, bound time.Duration) error {
	st := s.node.Status()
	if st.Role == "leader" {
		return nil
	}
	if st.LastContact < 0 {
		return &staleReadError{applied: s.node.AppliedIndex(), lastContact: -1,
			why: "this node has not heard from a leader since it started"}
	}
	// Data is as fresh as the last leader contact only once the commit
	// index learned then is applied; applying is local and quick.
	if s.node.AppliedIndex() < st.CommitIndex {
		if err := s.waitApplied(ctx, st.CommitIndex, min(bound, minIndexWait)); err != nil {
			return err
		}
	}
	if st.LastContact > bound {
		return &staleReadError{applied: s.node.AppliedIndex(), lastContact: st.LastContact,
			why: fmt.Sprintf("last contact with a leader was %v ago, over the %v bound", st.LastContact.Round(time.Millisecond), bound)}
	}
	return nil
}

// waitMinIndex makes a stale read read-your-writes.
func (s *Server) waitMinIndex(ctx context.Context, index uint64) error {
	if index == 0 || s.node.AppliedIndex() >= index {
		return nil
	}
	return s.waitApplied(ctx, index, minIndexWait)
}

// waitApplied waits at most limit for the state machine to reach index; a
// node that does not get there refuses with STALE so the client moves on.
func (s *Server) waitApplied(ctx context.Context, index uint64, limit time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	err := s.node.WaitApplied(wctx, index)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	st := s.node.Status()
	return &staleReadError{applied: s.node.AppliedIndex(), lastContact: st.LastContact,
		why: fmt.Sprintf("applied index %d has not reached %d within %v", s.node.AppliedIndex(), index, limit)}
}
