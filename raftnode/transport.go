package raftnode

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// newTransport binds raft's TCP transport. With no advertise address the
// bound address is advertised, which makes port 0 usable.
func newTransport(cfg Config, hcl hclog.Logger) (*raft.NetworkTransport, error) {
	var advertise net.Addr
	if cfg.RaftAdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.RaftAdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("resolve raft advertise address: %w", err)
		}
		advertise = a
	}
	trans, err := raft.NewTCPTransportWithConfig(cfg.RaftBindAddr, advertise, &raft.NetworkTransportConfig{
		Logger:  hcl,
		MaxPool: 3,
		// I/O deadline for a single RPC; InstallSnapshot scales it by size.
		Timeout: 10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("start raft transport on %s: %w", cfg.RaftBindAddr, err)
	}
	return trans, nil
}
