package chaos

import (
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/anishathalye/porcupine"
)

// kvInput is a porcupine operation's input.
type kvInput struct {
	Kind       OpKind
	Key        string
	Value      string // put and cas
	Old        string // cas: the expected value, when OldPresent
	OldPresent bool   // cas: the key must exist (with Old) rather than be absent
}

// kvOutput is a porcupine operation's output.
type kvOutput struct {
	Found   bool   // get: key existed; delete: key was deleted; cas: swapped
	Value   string // get with Found
	Unknown bool   // a write whose outcome the client does not know
}

// kvState is one key's value in the model; the zero value is "absent".
type kvState struct {
	Present bool
	Value   string
}

// kvModel is the sequential specification of one key (the history is
// partitioned by key, which is sound because keys are independent).
//
// Writes of unknown outcome are given a return time after every other
// operation (see toPorcupine). Their step always succeeds: linearized before
// some operation they took effect; linearized at the very end they are
// indistinguishable from a write that never happened. A cas of unknown
// outcome takes effect where its comparison holds, and nowhere else.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return kvState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(kvState), input.(kvInput), output.(kvOutput)
		switch in.Kind {
		case OpGet:
			return out.Found == st.Present && out.Value == st.Value, st
		case OpPut:
			return true, kvState{Present: true, Value: in.Value}
		case OpDelete:
			return out.Unknown || out.Found == st.Present, kvState{}
		case OpCAS:
			match := st.Present == in.OldPresent && (!in.OldPresent || st.Value == in.Old)
			next := st
			if match {
				next = kvState{Present: true, Value: in.Value}
			}
			return out.Unknown || out.Found == match, next
		}
		return false, st
	},
	Hash: func(state any) uint64 {
		st := state.(kvState)
		h := fnv.New64a()
		if st.Present {
			h.Write([]byte{1})
		}
		h.Write([]byte(st.Value))
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		res := ""
		switch {
		case out.Unknown:
			res = " -> ?"
		case in.Kind == OpGet && out.Found:
			res = fmt.Sprintf(" -> %q", out.Value)
		case in.Kind == OpGet:
			res = " -> not found"
		case in.Kind == OpDelete:
			res = fmt.Sprintf(" -> deleted=%v", out.Found)
		case in.Kind == OpCAS:
			res = fmt.Sprintf(" -> swapped=%v", out.Found)
		}
		switch {
		case in.Kind == OpPut:
			return fmt.Sprintf("put(%s, %q)%s", in.Key, in.Value, res)
		case in.Kind == OpCAS && in.OldPresent:
			return fmt.Sprintf("cas(%s, %q -> %q)%s", in.Key, in.Old, in.Value, res)
		case in.Kind == OpCAS:
			return fmt.Sprintf("cas(%s, <absent> -> %q)%s", in.Key, in.Value, res)
		}
		return fmt.Sprintf("%s(%s)%s", in.Kind, in.Key, res)
	},
	DescribeState: func(state any) string {
		st := state.(kvState)
		if !st.Present {
			return "<absent>"
		}
		return fmt.Sprintf("%q", st.Value)
	},
}

// toPorcupine converts a history for the checker. Failed operations are
// left out (they had no effect, and failed reads observed nothing), and so
// are STALE gets, which promise no linearizability (checkStaleReads checks
// them); writes of unknown outcome return after everything else.
func toPorcupine(ops []Op) []porcupine.Operation {
	var horizon int64
	for _, op := range ops {
		horizon = max(horizon, op.Return)
	}
	horizon++
	var out []porcupine.Operation
	for _, op := range ops {
		if op.Outcome == OutcomeFailed || op.Kind == OpStaleGet {
			continue
		}
		ret := op.Return
		if op.Outcome == OutcomeUnknown {
			ret = horizon
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Client,
			Input:    kvInput{Kind: op.Kind, Key: op.Key, Value: putValue(op), Old: op.Old, OldPresent: op.OldPresent},
			Output:   kvOutput{Found: op.Found, Value: getValue(op), Unknown: op.Outcome == OutcomeUnknown},
			Call:     op.Call,
			Return:   ret,
			Metadata: op.ID,
		})
	}
	return out
}

func putValue(op Op) string {
	if op.Kind == OpPut || op.Kind == OpCAS {
		return op.Value
	}
	return ""
}

func getValue(op Op) string {
	if op.Kind == OpGet {
		return op.Value
	}
	return ""
}
