package raftnodetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"

	"github.com/raftkv/raftkv/raftnode"
)

// StateMachine is an in-memory raftnode.StateMachine for tests. It behaves
// like a persistent store: its data and applied index survive a node being
// killed and restarted as long as the same *StateMachine is reused, and it
// ignores entries at or below its applied index (counting them as Replays,
// which a correct raftnode never causes).
//
// Commands are built with SetCmd and FailCmd. Apply returns the key's
// previous value (or "") as the response.
type StateMachine struct {
	mu       sync.Mutex        // guards the fields below
	data     map[string]string // key -> value
	applied  uint64            // last applied index ("persisted" with data)
	applies  int               // entries applied
	replays  int               // Apply calls at or below applied
	restores int               // successful Restore calls
	hook     func(index uint64, data []byte)
}

// NewStateMachine returns an empty StateMachine.
func NewStateMachine() *StateMachine {
	return &StateMachine{data: make(map[string]string)}
}

// SetCmd returns a command that sets key to value.
func SetCmd(key, value string) []byte { return []byte("set " + key + "=" + value) }

// FailCmd returns a command whose application fails fatally, as a disk
// error or an undecodable entry would.
func FailCmd() []byte { return []byte("fail") }

// ErrSimulated is the error Apply returns for FailCmd.
var ErrSimulated = errors.New("raftnodetest: simulated state machine failure")

// SetApplyHook installs fn to run at the start of every Apply, before the
// state machine's lock is taken; tests use it to hold applies back. Nil
// removes it.
func (s *StateMachine) SetApplyHook(fn func(index uint64, data []byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = fn
}

// Apply implements raftnode.StateMachine.
func (s *StateMachine) Apply(index uint64, data []byte) (any, error) {
	s.mu.Lock()
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		hook(index, data)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.applied {
		s.replays++
		return nil, nil
	}
	cmd := string(data)
	if cmd == string(FailCmd()) {
		return nil, fmt.Errorf("entry %d: %w", index, ErrSimulated)
	}
	kv, ok := strings.CutPrefix(cmd, "set ")
	key, value, ok2 := strings.Cut(kv, "=")
	if !ok || !ok2 {
		return nil, fmt.Errorf("entry %d: undecodable command %q", index, cmd)
	}
	prev := s.data[key]
	s.data[key] = value
	s.applied = index
	s.applies++
	return prev, nil
}

// AppliedIndex implements raftnode.StateMachine.
func (s *StateMachine) AppliedIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

type snapshotData struct {
	Applied uint64            `json:"applied"`
	Data    map[string]string `json:"data"`
}

// Snapshot implements raftnode.StateMachine.
func (s *StateMachine) Snapshot() (raftnode.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &snapshot{d: snapshotData{Applied: s.applied, Data: maps.Clone(s.data)}}, nil
}

// Restore implements raftnode.StateMachine.
func (s *StateMachine) Restore(r io.Reader) error {
	var d snapshotData
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	if d.Data == nil {
		d.Data = make(map[string]string)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data, s.applied = d.Data, d.Applied
	s.restores++
	return nil
}

// Get returns the value of key and whether it is set.
func (s *StateMachine) Get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	return v, ok
}

// Len returns the number of keys.
func (s *StateMachine) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}

// Data returns a copy of the contents.
func (s *StateMachine) Data() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.data)
}

// Stats counts what happened to a StateMachine.
type Stats struct {
	// Applied is the applied index.
	Applied uint64
	// Applies is the number of entries applied.
	Applies int
	// Replays is the number of Apply calls for entries already applied.
	Replays int
	// Restores is the number of snapshot restores.
	Restores int
}

// Stats returns the current counters.
func (s *StateMachine) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Applied: s.applied, Applies: s.applies, Replays: s.replays, Restores: s.restores}
}

type snapshot struct{ d snapshotData }

func (s *snapshot) WriteTo(w io.Writer) (int64, error) {
	b, err := json.Marshal(s.d)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

func (s *snapshot) Release() {}

var _ raftnode.StateMachine = (*StateMachine)(nil)
