package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// snapshotMeta is the part of hashicorp/raft's FileSnapshotStore
// meta.json that the metrics report. Reading the files directly keeps
// hashicorp/raft out of this package and avoids opening a second snapshot
// store (which would write a permission-test file) next to raft's own.
type snapshotMeta struct {
	ID    string
	Index uint64
	Term  uint64
	Size  int64
	Taken time.Time `json:"-"`
}

// listSnapshots returns the completed snapshots under dir/snapshots, newest
// first, skipping in-progress (.tmp) and unreadable ones. The layout is
// raft's: one folder per snapshot named term-index-unixmillis holding
// meta.json.
func listSnapshots(dir string) []snapshotMeta {
	entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil {
		return nil
	}
	var out []snapshotMeta
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "snapshots", e.Name(), "meta.json"))
		if err != nil {
			continue
		}
		var m snapshotMeta
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		parts := strings.Split(e.Name(), "-")
		if ms, err := strconv.ParseInt(parts[len(parts)-1], 10, 64); err == nil && len(parts) == 3 {
			m.Taken = time.UnixMilli(ms)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b snapshotMeta) int {
		if a.Term != b.Term {
			return cmpDesc(a.Term, b.Term)
		}
		if a.Index != b.Index {
			return cmpDesc(a.Index, b.Index)
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out
}

func cmpDesc(a, b uint64) int {
	if a > b {
		return -1
	}
	return 1
}
