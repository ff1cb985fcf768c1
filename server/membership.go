package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/autopilot"
	"github.com/raftkv/raftkv/proto/kvpb"
	"github.com/raftkv/raftkv/raftnode"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/store"
)

// startAutopilot runs the leader-side autopilot (auto-promotion and
// dead-member cleanup) in an owned goroutine when either is configured.
func (s *Server) startAutopilot() error {
	if !s.cfg.Autopilot.Enabled() {
		return nil
	}
	cfg := s.cfg.Autopilot
	cfg.Logger = s.log
	ap, err := autopilot.New(cfg, s.node, s.api.ProbeMember)
	if err != nil {
		return fmt.Errorf("autopilot: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopPilot = cancel
	s.wg.Go(func() { _ = ap.Run(ctx) })
	return nil
}

// leaveRetry is the pause between attempts to leave while no leader is
// reachable.
const leaveRetry = 100 * time.Millisecond

// Leave removes this node from the cluster's configuration, as kvd
// --leave-on-terminate does before exiting: a leader first hands its
// leadership to another voter, then the node asks the leader (through its
// own API, which forwards) to remove it, retrying until ctx ends while no
// leader is known. A node already removed succeeds. The last voter cannot
// leave (raftnode.ErrMembershipRefused). The node keeps running; Close
// stops it.
func (s *Server) Leave(ctx context.Context) error {
	id := s.node.ID()
	if s.node.IsLeader() {
		if ms, err := s.node.Members(ctx); err == nil && countVoters(ms) >= 2 {
			if err := s.node.TransferLeadership(ctx); err != nil {
				s.log.Warn("leadership hand-off before leaving failed", "err", err)
			}
		}
	}
	for {
		_, err := s.api.RemoveMember(ctx, &kvpb.RemoveMemberRequest{Id: string(id)})
		// Local refusals arrive as raftnode errors, the leader's as statuses.
		switch code := status.Code(err); {
		case err == nil, errors.Is(err, raftnode.ErrUnknownMember), code == codes.NotFound:
			s.log.Info("left the cluster")
			return nil
		case errors.Is(err, raftnode.ErrMembershipRefused), errors.Is(err, store.ErrInvalidArgument),
			code == codes.InvalidArgument, reasonOf(err) == rpc.ReasonMembershipRefused:
			return fmt.Errorf("leave: %w", err)
		}
		s.log.Debug("leave pending", "err", err)
		t := time.NewTimer(leaveRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("leave: %w (last attempt: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// reasonOf returns the raftkv ErrorInfo reason of a status error, or "".
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == rpc.ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}
