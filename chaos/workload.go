package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftkv/raftkv/client"
)

// WorkloadConfig shapes the clients' traffic.
type WorkloadConfig struct {
	// Clients is the number of concurrent clients, each with its own
	// client.Client and strictly sequential operations. 0 means 12.
	Clients int
	// Keys is the size of the key set; a small set makes clients collide.
	// 0 means 5.
	Keys int
	// OpTimeout bounds one operation, the client's retries included. A write
	// still pending when it expires has an unknown outcome. 0 means 2s.
	OpTimeout time.Duration
	// ReadPct, StalePct, DeletePct and CASPct are the percentages of
	// linearizable gets, STALE gets (raw gRPC to a random node, checked
	// against their metadata), deletes and compare-and-swaps; the rest are
	// puts. All 0 means 35%, 10%, 10%, 15%.
	ReadPct, StalePct, DeletePct, CASPct int
	// StaleAsLinearizable records STALE gets as if they were linearizable,
	// which the checker must reject under partitions. It exists to prove
	// that the checker catches stale reads; never set it otherwise.
	StaleAsLinearizable bool
	// MaxThink is the longest pause a client takes between two operations
	// (uniform in [0, MaxThink)); it keeps histories small enough to check
	// quickly. 0 means 5ms; negative means no pause.
	MaxThink time.Duration
}

func (w WorkloadConfig) withDefaults() WorkloadConfig {
	if w.Clients == 0 {
		w.Clients = 12
	}
	if w.Keys == 0 {
		w.Keys = 5
	}
	if w.OpTimeout == 0 {
		w.OpTimeout = 2 * time.Second
	}
	if w.ReadPct == 0 && w.StalePct == 0 && w.DeletePct == 0 && w.CASPct == 0 {
		w.ReadPct, w.StalePct, w.DeletePct, w.CASPct = 35, 10, 10, 15
	}
	if w.MaxThink == 0 {
		w.MaxThink = 5 * time.Millisecond
	}
	return w
}

// keyName is the i-th key of the workload's key set.
func keyName(i int) string { return fmt.Sprintf("chaos/k%d", i) }

// RunWorkload runs cfg.Clients clients against c until stop is closed (or
// ctx ends), recording every operation in rec. Each client's choices come
// from its own generator seeded from seed. It returns once every client has
// finished its last operation.
func RunWorkload(ctx context.Context, stop <-chan struct{}, c *Cluster, cfg WorkloadConfig, seed uint64, rec *Recorder) error {
	endpoints := c.Endpoints()
	cfg = cfg.withDefaults()
	clients := make([]*client.Client, cfg.Clients)
	for i := range clients {
		cl, err := client.New(client.Config{Endpoints: endpoints, DialTimeout: time.Second})
		if err != nil {
			for _, c := range clients[:i] {
				_ = c.Close()
			}
			return fmt.Errorf("client %d: %w", i, err)
		}
		clients[i] = cl
	}
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			w := worker{id: i, cl: cl, c: c, cfg: cfg, rec: rec, rng: rand.New(rand.NewPCG(seed, uint64(i)+1)), seen: map[string]seenValue{}}
			w.loop(ctx, stop)
		}()
	}
	wg.Wait()
	return nil
}

// worker is one sequential client.
type worker struct {
	id  int
	cl  *client.Client
	c   *Cluster // for STALE gets straight to one node
	cfg WorkloadConfig
	rec *Recorder
	rng *rand.Rand
	seq int
	// seen is the last state this client observed or wrote per key; a cas
	// expects it, so that swaps succeed often enough to matter.
	seen map[string]seenValue
}

// seenValue is a key's state as one client last knew it.
type seenValue struct {
	present bool
	value   string
}

// observe remembers what a completed operation revealed about its key.
func (w *worker) observe(op Op) {
	if op.Outcome != OutcomeOK {
		return
	}
	switch {
	case op.Kind == OpGet, op.Kind == OpStaleGet:
		w.seen[op.Key] = seenValue{present: op.Found, value: op.Value}
	case op.Kind == OpPut, op.Kind == OpCAS && op.Found:
		w.seen[op.Key] = seenValue{present: true, value: op.Value}
	case op.Kind == OpDelete:
		w.seen[op.Key] = seenValue{}
	}
}

func (w *worker) loop(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		w.step(ctx)
		if w.cfg.MaxThink > 0 {
			if pause(ctx, time.Duration(w.rng.Int64N(int64(w.cfg.MaxThink)))) != nil {
				return
			}
		}
	}
}

// step performs and records one random operation.
func (w *worker) step(ctx context.Context) {
	key := keyName(w.rng.IntN(w.cfg.Keys))
	p := w.rng.IntN(100)
	var op Op
	switch {
	case p < w.cfg.ReadPct:
		op = DoGet(ctx, w.cl, w.rec, w.id, key, w.cfg.OpTimeout)
	case p < w.cfg.ReadPct+w.cfg.StalePct:
		op = doStaleGet(ctx, w.c, w.rec, w.id, w.rng.IntN(w.c.Size()), key, w.cfg.OpTimeout/2)
		if w.cfg.StaleAsLinearizable && op.Kind == OpStaleGet {
			op.Kind = OpGet
		}
	case p < w.cfg.ReadPct+w.cfg.StalePct+w.cfg.DeletePct:
		op = doDelete(ctx, w.cl, w.rec, w.id, key, w.cfg.OpTimeout)
	case p < w.cfg.ReadPct+w.cfg.StalePct+w.cfg.DeletePct+w.cfg.CASPct:
		w.seq++
		op = doCAS(ctx, w.cl, w.rec, w.id, key, w.seen[key], fmt.Sprintf("c%d.%d", w.id, w.seq), w.cfg.OpTimeout)
	default:
		w.seq++
		op = doPut(ctx, w.cl, w.rec, w.id, key, fmt.Sprintf("c%d.%d", w.id, w.seq), w.cfg.OpTimeout)
	}
	w.observe(op)
	w.rec.Add(op)
}

// DoGet performs one linearizable get and returns it as an Op (not yet
// recorded).
func DoGet(ctx context.Context, cl *client.Client, rec *Recorder, id int, key string, timeout time.Duration) Op {
	op := Op{Client: id, Kind: OpGet, Key: key, Call: rec.Now()}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := cl.Get(ctx, key)
	cancel()
	op.Return = rec.Now()
	switch {
	case err == nil:
		op.Outcome, op.Found, op.Value, op.Node = OutcomeOK, true, string(resp.KV.Value), resp.Header.NodeID
	case errors.Is(err, client.ErrNotFound):
		op.Outcome = OutcomeOK
	default:
		op.Outcome, op.Err = OutcomeFailed, err.Error()
	}
	return op
}

func doPut(ctx context.Context, cl *client.Client, rec *Recorder, id int, key, value string, timeout time.Duration) Op {
	op := Op{Client: id, Kind: OpPut, Key: key, Value: value, Call: rec.Now()}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := cl.Put(ctx, key, []byte(value))
	cancel()
	op.Return = rec.Now()
	if err == nil {
		op.Outcome, op.Node, op.Index = OutcomeOK, resp.Header.NodeID, resp.Index
	} else {
		op.Outcome, op.Err = writeOutcome(err), err.Error()
	}
	return op
}

func doDelete(ctx context.Context, cl *client.Client, rec *Recorder, id int, key string, timeout time.Duration) Op {
	op := Op{Client: id, Kind: OpDelete, Key: key, Call: rec.Now()}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := cl.Delete(ctx, key)
	cancel()
	op.Return = rec.Now()
	if err == nil {
		op.Outcome, op.Found, op.Node, op.Index = OutcomeOK, resp.Deleted, resp.Header.NodeID, resp.Index
	} else {
		op.Outcome, op.Err = writeOutcome(err), err.Error()
	}
	return op
}

// doCAS swaps key from the state old to value. The op's Found is whether
// it swapped; Index is the raft index the request committed at.
func doCAS(ctx context.Context, cl *client.Client, rec *Recorder, id int, key string, old seenValue, value string, timeout time.Duration) Op {
	op := Op{Client: id, Kind: OpCAS, Key: key, Value: value, Old: old.value, OldPresent: old.present, Call: rec.Now()}
	var expected []byte // nil: the key must be absent
	if old.present {
		expected = []byte(old.value)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := cl.CompareAndSwapResult(ctx, key, expected, []byte(value))
	cancel()
	op.Return = rec.Now()
	if err == nil {
		op.Outcome, op.Found, op.Node, op.Index = OutcomeOK, resp.Succeeded, resp.Header.NodeID, resp.Index
	} else {
		op.Outcome, op.Err = writeOutcome(err), err.Error()
	}
	return op
}

// doStaleGet reads key from node i's local data (STALE, raw gRPC) and
// keeps the response's metadata: the key's mod index and the node's
// applied index.
func doStaleGet(ctx context.Context, c *Cluster, rec *Recorder, id, i int, key string, timeout time.Duration) Op {
	op := Op{Client: id, Kind: OpStaleGet, Key: key, Node: c.NodeID(i), Call: rec.Now()}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := c.StaleGet(ctx, i, key)
	cancel()
	op.Return = rec.Now()
	switch {
	case err == nil:
		op.Outcome, op.Found, op.Value = OutcomeOK, true, string(resp.GetKv().GetValue())
		op.Index, op.Applied = resp.GetKv().GetModIndex(), resp.GetHeader().GetAppliedIndex()
	case status.Code(err) == codes.NotFound:
		op.Outcome = OutcomeOK
	default:
		op.Outcome, op.Err = OutcomeFailed, err.Error()
	}
	return op
}

// writeOutcome classifies a failed write. The client's contract is that a
// write whose fate it cannot know fails with ErrOutcomeUnknown and any other
// error means it was not applied; a deadline or cancellation is treated as
// unknown too, conservatively. A failed write whose value is later observed
// is reported as an anomaly of its own (KindFailedWriteSeen).
func writeOutcome(err error) Outcome {
	switch {
	case errors.Is(err, client.ErrOutcomeUnknown),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return OutcomeUnknown
	default:
		return OutcomeFailed
	}
}
