package rpc

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/raftkv/raftkv/proto/kvpb"
)

// registerSelf makes sure the cluster knows this node and its client address,
// so that any member can point clients at it when it leads.
//
// A bootstrapped node is already a voter; it only needs its gRPC address in
// the replicated node metadata. A node started with JoinAddrs is not in the
// configuration yet and asks an existing member to add it. Either way the
// request is the idempotent Join RPC, sent to the leader when its address is
// known (or applied directly when this node leads), else to the join
// addresses. The loop retries until the metadata matches, then keeps
// watching leadership changes in case the metadata is lost to a restore.
func (s *Server) registerSelf() {
	for {
		wake := s.node.LeaderChanged()
		err := s.registerOnce()
		if err == nil {
			select {
			case <-s.done:
				return
			case <-wake:
			}
			continue
		}
		s.log.Debug("self-registration pending", "err", err)
		select {
		case <-s.done:
			return
		case <-wake:
		case <-time.After(s.cfg.RegisterRetry):
		}
	}
}

// registerOnce makes one attempt; nil means the metadata is in place.
func (s *Server) registerOnce() error {
	self := s.node.Status()
	if meta, ok := s.reader.NodeMeta(string(self.ID)); ok && meta.GRPCAddr == s.cfg.GRPCAddr && meta.RaftAddr == self.RaftAddr {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A node not yet in the configuration joins as configured. A member
	// keeps the suffrage it has: an operator may have added it as a
	// non-voter (kvctl member add --nonvoter) or promoted it since, and
	// registering its address must neither promote nor (it cannot) demote.
	nonvoter := s.cfg.NonVoter
	if ms, err := s.node.Members(ctx); err == nil {
		for _, m := range ms {
			if m.ID == self.ID {
				nonvoter = !m.Voter
			}
		}
	}
	req := &kvpb.JoinRequest{Id: string(self.ID), RaftAddr: self.RaftAddr, GrpcAddr: s.cfg.GRPCAddr, Nonvoter: nonvoter}
	if self.LeaderID == self.ID {
		_, err := s.Join(ctx, req)
		if err == nil {
			s.log.Info("registered client address", "grpc_addr", s.cfg.GRPCAddr)
		}
		return err
	}
	targets := s.cfg.JoinAddrs
	if addr := s.leaderAddr(self.LeaderID); addr != "" {
		targets = append([]string{addr}, targets...)
	}
	if len(targets) == 0 {
		return errNotRegistered
	}
	var lastErr error
	for _, addr := range targets {
		cc, err := s.fwd.conn(addr)
		if err != nil {
			lastErr = err
			continue
		}
		if _, err := kvpb.NewClusterClient(cc).Join(s.withNodeAuth(ctx), req, grpc.WaitForReady(false)); err != nil {
			lastErr = fmt.Errorf("join via %s: %w", addr, err)
			continue
		}
		s.log.Info("joined cluster", "via", addr, "grpc_addr", s.cfg.GRPCAddr)
		return nil
	}
	return lastErr
}
