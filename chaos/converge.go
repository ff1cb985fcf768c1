package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// replicaView is what one node says about itself after healing.
type replicaView struct {
	applied uint64
	hash    string            // of every key, value and index, in key order
	values  map[string]string // key -> value
	err     error
}

// viewReplica reads node i's applied index and its whole content with a
// STALE List (served from its own bbolt file), then the applied index
// again: the view is consistent only if the index did not move.
func viewReplica(ctx context.Context, c *Cluster, i int) replicaView {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := c.Status(ctx, i)
	if err != nil {
		return replicaView{err: fmt.Errorf("status: %w", err)}
	}
	list, err := c.StaleList(ctx, i)
	if err != nil {
		return replicaView{err: fmt.Errorf("stale list: %w", err)}
	}
	if list.GetMore() {
		return replicaView{err: fmt.Errorf("stale list: more than one page of keys")}
	}
	if list.GetHeader().GetAppliedIndex() != st.GetAppliedIndex() {
		return replicaView{err: fmt.Errorf("applied index moved from %d to %d while listing",
			st.GetAppliedIndex(), list.GetHeader().GetAppliedIndex())}
	}
	h := sha256.New()
	v := replicaView{applied: st.GetAppliedIndex(), values: map[string]string{}}
	for _, kv := range list.GetKvs() {
		for _, b := range [][]byte{kv.GetKey(), kv.GetValue()} {
			_ = binary.Write(h, binary.BigEndian, uint32(len(b)))
			h.Write(b)
		}
		_ = binary.Write(h, binary.BigEndian, [2]uint64{kv.GetCreateIndex(), kv.GetModIndex()})
		v.values[string(kv.GetKey())] = string(kv.GetValue())
	}
	v.hash = hex.EncodeToString(h.Sum(nil))[:16]
	return v
}

// checkConvergence polls every node until all report the same applied
// index and the same content hash, for at most timeout, and then compares
// that content with the final linearizable reads in ops.
func checkConvergence(ctx context.Context, c *Cluster, ops []Op, timeout time.Duration) []Failure {
	deadline := time.Now().Add(timeout)
	var views []replicaView
	for attempt := 0; attempt < 1000; attempt++ {
		views = views[:0]
		same := true
		for i := range c.Size() {
			v := viewReplica(ctx, c, i)
			views = append(views, v)
			same = same && v.err == nil && v.applied == views[0].applied && v.hash == views[0].hash
		}
		if same {
			return compareFinal(views[0], ops)
		}
		if time.Now().After(deadline) || pause(ctx, 200*time.Millisecond) != nil {
			break
		}
	}
	var parts []string
	for i, v := range views {
		if v.err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", c.NodeID(i), v.err))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: applied %d, %d keys, hash %s", c.NodeID(i), v.applied, len(v.values), v.hash))
	}
	return []Failure{{Kind: KindDivergence, Detail: fmt.Sprintf("replicas did not converge within %v: %s", timeout, strings.Join(parts, "; "))}}
}

// compareFinal checks that the converged content agrees with the final
// linearizable reads.
func compareFinal(v replicaView, ops []Op) []Failure {
	var out []Failure
	for _, op := range ops {
		if !op.Final || op.Outcome != OutcomeOK {
			continue
		}
		got, ok := v.values[op.Key]
		if ok != op.Found || got != op.Value {
			out = append(out, Failure{Kind: KindDivergence, Detail: fmt.Sprintf(
				"final read of %s returned found=%v %q but every replica holds found=%v %q", op.Key, op.Found, op.Value, ok, got)})
		}
	}
	return out
}
