package autopilot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/raftkv/raftkv/raftnode"
)

// Consensus is what the autopilot needs from the raft node. *raftnode.Node
// implements it. All methods are safe for concurrent use.
type Consensus interface {
	// ID is this node's id.
	ID() raftnode.NodeID
	// IsLeader reports whether this node leads right now.
	IsLeader() bool
	// Status reports this node's raft state (the commit index is used).
	Status() raftnode.Status
	// Members lists the latest configuration.
	Members(ctx context.Context) ([]raftnode.Member, error)
	// FailingPeers maps the peers whose heartbeats from this leader fail
	// to their last successful contact.
	FailingPeers() map[raftnode.NodeID]time.Time
	// PromoteToVoter makes a non-voter a voter.
	PromoteToVoter(ctx context.Context, id raftnode.NodeID) error
	// RemoveServer removes a member.
	RemoveServer(ctx context.Context, id raftnode.NodeID) error
}

// Prober asks member id for the raft index its state machine has applied.
// It must respect ctx's deadline.
type Prober func(ctx context.Context, id raftnode.NodeID) (applied uint64, err error)

// Config configures an Autopilot. A zero TargetVoters and a zero
// DeadMemberTimeout turn both jobs off.
type Config struct {
	// TargetVoters is the number of voters the leader promotes non-voters
	// towards: while there are fewer, a healthy non-voter is promoted. 0
	// (the default) turns auto-promotion off. It never demotes.
	TargetVoters int
	// DeadMemberTimeout is how long the leader must have had no contact with
	// a member before removing it. 0 (the default) turns cleanup off. A
	// voter is removed only while the remaining healthy voters are a
	// majority of the configuration without it.
	DeadMemberTimeout time.Duration
	// StabilizationTime is how long a non-voter must stay healthy (caught
	// up, heartbeats answered, probes answered) before it is promoted, like
	// Consul's ServerStabilizationTime. 0 means 10s.
	StabilizationTime time.Duration
	// MaxLag is how many entries a non-voter's applied index may trail the
	// leader's commit index and still count as caught up. 0 means 64.
	MaxLag uint64
	// Interval is the pause between checks. 0 means 1s.
	Interval time.Duration
	// Logger receives the autopilot's logs; nil discards them.
	Logger *slog.Logger
}

// Enabled reports whether either job is on.
func (c Config) Enabled() bool { return c.TargetVoters > 0 || c.DeadMemberTimeout > 0 }

// Validate reports a configuration error.
func (c Config) Validate() error {
	var errs []error
	if c.TargetVoters < 0 {
		errs = append(errs, fmt.Errorf("target voters must not be negative, got %d", c.TargetVoters))
	}
	if c.DeadMemberTimeout < 0 || c.StabilizationTime < 0 || c.Interval < 0 {
		errs = append(errs, errors.New("autopilot durations must not be negative"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.StabilizationTime == 0 {
		c.StabilizationTime = 10 * time.Second
	}
	if c.MaxLag == 0 {
		c.MaxLag = 64
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Autopilot runs the checks on the leader. Create it with New and run it
// with Run.
type Autopilot struct {
	cfg   Config
	node  Consensus
	probe Prober
	log   *slog.Logger

	// healthySince maps each non-voter to when it was last found healthy
	// after not being so. Used only by Run's goroutine.
	healthySince map[raftnode.NodeID]time.Time
}

// New returns an Autopilot for node. probe is used for non-voters only.
func New(cfg Config, node Consensus, probe Prober) (*Autopilot, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Autopilot{
		cfg:          cfg,
		node:         node,
		probe:        probe,
		log:          cfg.Logger.With("component", "autopilot", "node_id", string(node.ID())),
		healthySince: make(map[raftnode.NodeID]time.Time),
	}, nil
}

// Run checks the configuration every Interval while this node leads, until
// ctx ends. It returns nil then; failures of single checks are logged.
func (a *Autopilot) Run(ctx context.Context) error {
	if !a.cfg.Enabled() {
		return nil
	}
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !a.node.IsLeader() {
			clear(a.healthySince) // a new term starts the stabilization over
			continue
		}
		stepCtx, cancel := context.WithTimeout(ctx, max(a.cfg.Interval, time.Second)*5)
		if err := a.step(stepCtx, time.Now()); err != nil && ctx.Err() == nil {
			a.log.Warn("autopilot check failed", "err", err)
		}
		cancel()
	}
}

// step runs one check: at most one removal, else at most one promotion, so
// each change is committed and observed before the next is decided.
func (a *Autopilot) step(ctx context.Context, now time.Time) error {
	members, err := a.node.Members(ctx)
	if err != nil {
		return err
	}
	failing := a.node.FailingPeers()
	if a.cfg.DeadMemberTimeout > 0 {
		if id, ok := a.deadToRemove(members, failing, now); ok {
			a.log.Info("removing dead member", "member_id", string(id),
				"no_contact_for", now.Sub(failing[id]).Round(time.Millisecond))
			if err := a.node.RemoveServer(ctx, id); err != nil {
				return fmt.Errorf("remove dead member %s: %w", id, err)
			}
			return nil
		}
	}
	if a.cfg.TargetVoters > 0 {
		return a.promote(ctx, members, failing, now)
	}
	return nil
}

// deadToRemove picks a member to remove: one the leader has not heard from
// for DeadMemberTimeout, non-voters first. A voter qualifies only if the
// voters still answering heartbeats are a majority both of the current
// configuration and of the one that would remain without it, so a removal
// can never cost the cluster its quorum (and never removes the last
// voter).
func (a *Autopilot) deadToRemove(members []raftnode.Member, failing map[raftnode.NodeID]time.Time, now time.Time) (raftnode.NodeID, bool) {
	voters, healthyVoters := 0, 0
	var deadVoters, deadNonvoters []raftnode.NodeID
	for _, m := range members {
		last, isFailing := failing[m.ID]
		if m.ID == a.node.ID() {
			isFailing = false
		}
		dead := isFailing && now.Sub(last) >= a.cfg.DeadMemberTimeout
		if m.Voter {
			voters++
			if !isFailing {
				healthyVoters++
			}
		}
		switch {
		case dead && m.Voter:
			deadVoters = append(deadVoters, m.ID)
		case dead:
			deadNonvoters = append(deadNonvoters, m.ID)
		}
	}
	if len(deadNonvoters) > 0 {
		slices.Sort(deadNonvoters)
		return deadNonvoters[0], true
	}
	if len(deadVoters) == 0 {
		return "", false
	}
	remaining := voters - 1
	if remaining < 1 || healthyVoters < voters/2+1 || healthyVoters < remaining/2+1 {
		a.log.Warn("not removing dead voter: the healthy voters would not be a majority of the rest",
			"member_id", string(deadVoters[0]), "voters", voters, "healthy_voters", healthyVoters)
		return "", false
	}
	slices.Sort(deadVoters)
	return deadVoters[0], true
}

// promote promotes the first non-voter (by id) that has been healthy for
// StabilizationTime, while voters are fewer than TargetVoters. Health is
// tracked for every non-voter on every check, so a non-voter that falls
// behind or stops answering starts its stabilization over.
func (a *Autopilot) promote(ctx context.Context, members []raftnode.Member, failing map[raftnode.NodeID]time.Time, now time.Time) error {
	voters := 0
	var nonvoters []raftnode.NodeID
	for _, m := range members {
		if m.Voter {
			voters++
		} else {
			nonvoters = append(nonvoters, m.ID)
		}
	}
	for id := range a.healthySince {
		if !slices.Contains(nonvoters, id) {
			delete(a.healthySince, id)
		}
	}
	slices.Sort(nonvoters)
	commit := a.node.Status().CommitIndex
	var ready raftnode.NodeID
	for _, id := range nonvoters {
		healthy, why := a.healthy(ctx, id, failing, commit)
		if !healthy {
			if _, was := a.healthySince[id]; was {
				a.log.Info("non-voter no longer healthy", "member_id", string(id), "reason", why)
			}
			delete(a.healthySince, id)
			continue
		}
		since, ok := a.healthySince[id]
		if !ok {
			a.healthySince[id], since = now, now
			a.log.Debug("non-voter healthy", "member_id", string(id))
		}
		if ready == "" && now.Sub(since) >= a.cfg.StabilizationTime {
			ready = id
		}
	}
	if voters >= a.cfg.TargetVoters || ready == "" {
		return nil
	}
	a.log.Info("promoting non-voter", "member_id", string(ready), "voters", voters, "target_voters", a.cfg.TargetVoters)
	if err := a.node.PromoteToVoter(ctx, ready); err != nil {
		return fmt.Errorf("promote %s: %w", ready, err)
	}
	delete(a.healthySince, ready)
	return nil
}

// healthy reports whether non-voter id answers heartbeats and probes and
// has applied within MaxLag of commit, and if not, why.
func (a *Autopilot) healthy(ctx context.Context, id raftnode.NodeID, failing map[raftnode.NodeID]time.Time, commit uint64) (bool, string) {
	if _, ok := failing[id]; ok {
		return false, "heartbeats failing"
	}
	pctx, cancel := context.WithTimeout(ctx, max(a.cfg.Interval, 500*time.Millisecond))
	defer cancel()
	applied, err := a.probe(pctx, id)
	if err != nil {
		return false, "probe failed: " + err.Error()
	}
	if applied+a.cfg.MaxLag < commit {
		return false, fmt.Sprintf("applied index %d trails commit index %d", applied, commit)
	}
	return true, ""
}
