package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// SetSessionLimits lowers the exactly-once table's bounds of s so that
// tests reach them with a handful of entries.
func SetSessionLimits(s *Store, sessions, results int) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.limits = sessionLimits{sessions: sessions, results: results}
}

// SessionTable is the exactly-once table as tests see it.
type SessionTable struct {
	// Count is the stored session count.
	Count uint64
	// Sessions maps client id to its floor, last index and result count.
	Sessions map[string]*fsmpb.Session
	// Results maps client id to its stored seqs in order.
	Results map[string][]uint64
	// LRU maps last index to client id.
	LRU map[uint64]string
}

// DumpSessions reads the whole exactly-once table of s and checks that its
// buckets agree with each other.
func DumpSessions(s *Store) (SessionTable, error) {
	t := SessionTable{Sessions: map[string]*fsmpb.Session{}, Results: map[string][]uint64{}, LRU: map[uint64]string{}}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if t.Count, err = readCount(tx.Bucket(bucketMeta), keySessionCount); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			var sess fsmpb.Session
			if err := proto.Unmarshal(v, &sess); err != nil {
				return err
			}
			t.Sessions[string(k)] = &sess
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketResults).ForEach(func(k, _ []byte) error {
			n := int(k[0])
			cid, seq := string(k[1:1+n]), k[1+n:]
			v, err := decodeUint64(seq)
			if err != nil {
				return err
			}
			t.Results[cid] = append(t.Results[cid], v)
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketSessionLRU).ForEach(func(k, v []byte) error {
			idx, err := decodeUint64(k)
			if err != nil {
				return err
			}
			t.LRU[idx] = string(v)
			return nil
		})
	})
	if err != nil {
		return t, err
	}
	if int(t.Count) != len(t.Sessions) || len(t.LRU) != len(t.Sessions) {
		return t, fmt.Errorf("table disagrees: count %d, %d sessions, %d LRU entries", t.Count, len(t.Sessions), len(t.LRU))
	}
	for cid, sess := range t.Sessions {
		if got := t.LRU[sess.GetLastIndex()]; got != cid {
			return t, fmt.Errorf("session %q last used at %d, but the LRU names %q there", cid, sess.GetLastIndex(), got)
		}
		if uint64(len(t.Results[cid])) != sess.GetResults() {
			return t, fmt.Errorf("session %q counts %d results, holds %d", cid, sess.GetResults(), len(t.Results[cid]))
		}
		for _, seq := range t.Results[cid] {
			if seq < sess.GetFloor() {
				return t, fmt.Errorf("session %q holds seq %d below its floor %d", cid, seq, sess.GetFloor())
			}
		}
	}
	for cid := range t.Results {
		if _, ok := t.Sessions[cid]; !ok {
			return t, fmt.Errorf("results of unknown session %q", cid)
		}
	}
	return t, nil
}

// DropSessionBuckets removes the exactly-once buckets from s, making its
// file look like one written before they existed.
func DropSessionBuckets(s *Store) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ref.db.Update(func(tx *bolt.Tx) error {
		for _, name := range addedBuckets {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Delete(keySessionCount)
	})
}

// Crash stops s as a killed process would: the bbolt file is closed
// without the fsync and marker removal that Close does. The kernel keeps
// what was written, as it does for a killed process.
func Crash(s *Store) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.flushTimer.Stop()
	s.dropPending() // never committed: lost with the process
	ref := s.ref
	s.ref = nil
	_, err := ref.retire()
	return err
}

// CommittedIndex returns the applied index of s as committed to its bbolt
// file, which trails AppliedIndex while applies accumulate uncommitted.
func CommittedIndex(s *Store) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var index uint64
	err := s.ref.db.View(func(tx *bolt.Tx) error {
		var err error
		index, err = readAppliedIndex(tx)
		return err
	})
	return index, err
}

// DataLeafFill returns how full the data bucket's leaf pages of s are: the
// bytes they use over the bytes they occupy, from bbolt's page statistics.
func DataLeafFill(s *Store) (float64, error) {
	var st bolt.BucketStats
	err := s.view(func(tx *bolt.Tx) error {
		st = tx.Bucket(bucketData).Stats()
		return nil
	})
	if err != nil || st.LeafAlloc == 0 {
		return 0, err
	}
	return float64(st.LeafInuse) / float64(st.LeafAlloc), nil
}

// CorruptSession overwrites the exactly-once session of client cid in s's
// file with bytes that do not decode, so that the next request from cid
// fails inside the write transaction. Nothing may be uncommitted.
func CorruptSession(s *Store, cid []byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.pending != nil {
		return errors.New("CorruptSession: the store has uncommitted entries; Flush first")
	}
	return s.ref.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).Put(cid, []byte{0xff, 0xff})
	})
}

// SetCommitBytes lowers the size of written records at which s commits an
// accumulating transaction, so that tests reach it with small values.
func SetCommitBytes(s *Store, n int) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.commitBytes = n
}
