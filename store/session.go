package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// Bounds of the exactly-once table (see DESIGN.md). They are constants, not
// options: every replica must evict the same entries at the same index, so
// a node configured differently would diverge.
const (
	// MaxSessions is the most clients the table remembers. A new client
	// beyond it evicts the one whose latest request is oldest in the log.
	MaxSessions = 4096
	// MaxSessionResults is the most results kept per client. A client with
	// more unacknowledged results loses its lowest ones; requests at or
	// below them are then refused with ErrRequestTooOld.
	MaxSessionResults = 256
)

// sessionLimits are the bounds one Store applies. Open sets the constants;
// only tests lower them, to reach the bounds quickly.
type sessionLimits struct {
	sessions int // MaxSessions
	results  int // MaxSessionResults
}

// defaultSessionLimits are the bounds every production store uses.
var defaultSessionLimits = sessionLimits{sessions: MaxSessions, results: MaxSessionResults}

// sessionTable is the exactly-once table inside one write transaction.
type sessionTable struct {
	tx       *bolt.Tx
	limits   sessionLimits
	sessions *bolt.Bucket // client id -> fsmpb.Session
	results  *bolt.Bucket // resultKey(client id, seq) -> fsmpb.StoredResult
	lru      *bolt.Bucket // last index (8 bytes big-endian) -> client id
}

func newSessionTable(tx *bolt.Tx, limits sessionLimits) *sessionTable {
	return &sessionTable{
		tx:       tx,
		limits:   limits,
		sessions: tx.Bucket(bucketSessions),
		results:  tx.Bucket(bucketResults),
		lru:      tx.Bucket(bucketSessionLRU),
	}
}

// applyOnce applies cmd, which carries request id rid, at most once: a
// repeat of a request whose result is stored is answered from the store,
// and a request the table can no longer vouch for is refused. Failures of
// the request (bad id, too old, expired session) go into Result.Err; a
// returned error aborts the transaction.
func applyOnce(tx *bolt.Tx, limits sessionLimits, index uint64, cmd *fsmpb.Command) (Result, error) {
	rid := cmd.GetRequestId()
	res := Result{Index: index, Op: opOf(cmd)}
	if err := validateRequestID(rid); err != nil {
		res.Err = err
		return res, nil
	}
	t := newSessionTable(tx, limits)
	cid, seq := rid.GetClientId(), rid.GetSeq()
	sess, found, err := t.load(cid)
	if err != nil {
		return res, err
	}
	if !found && rid.GetSessionIndex() > 0 {
		// The client had a session (it was answered at SessionIndex), so
		// the table has forgotten it: a request applied earlier cannot be
		// recognised any more. Applying this one as new could apply it
		// twice.
		res.Err = fmt.Errorf("%w: the server no longer remembers this client (last known at index %d); "+
			"continue with a new client id", ErrSessionExpired, rid.GetSessionIndex())
		return res, nil
	}
	if err := t.raiseFloor(cid, sess, rid.GetMinUnackedSeq()); err != nil {
		return res, err
	}

	switch stored, ok, err := t.result(cid, seq); {
	case err != nil:
		return res, err
	case ok:
		res, err = duplicateResult(tx, res, cmd, stored)
		if err != nil {
			return res, err
		}
	case seq < sess.GetFloor():
		res.Err = fmt.Errorf("%w: seq %d is below %d, the lowest this server still remembers for the client",
			ErrRequestTooOld, seq, sess.GetFloor())
	default:
		res, err = applyOp(tx, index, cmd)
		if err != nil {
			return res, err
		}
		if res.Err == nil {
			if err := t.store(cid, sess, seq, res); err != nil {
				return res, err
			}
		}
	}
	return res, t.touch(cid, sess, found, index)
}

// duplicateResult answers a repeated request from its stored result. The
// value of a failed condition's current key is not stored; it is read back
// when the key is unchanged since (same indexes), which is deterministic.
func duplicateResult(tx *bolt.Tx, res Result, cmd *fsmpb.Command, stored *fsmpb.StoredResult) (Result, error) {
	res.Duplicate = true
	res.OriginalIndex = stored.GetIndex()
	res.Deleted = stored.GetDeleted()
	res.ConditionFailed = stored.GetConditionFailed()
	if !stored.GetCurrentExists() {
		return res, nil
	}
	cur := &KeyValue{
		Key:         bytes.Clone(keyOf(cmd)),
		CreateIndex: stored.GetCurrentCreateIndex(),
		ModIndex:    stored.GetCurrentModIndex(),
	}
	res.Current = cur
	now, ok, err := readKey(tx, cur.Key)
	if err != nil {
		return res, err
	}
	if ok && now.CreateIndex == cur.CreateIndex && now.ModIndex == cur.ModIndex {
		cur.Value = now.Value
	} else {
		res.CurrentValueOmitted = true
	}
	return res, nil
}

// load returns the session of client cid. found is false (and sess empty)
// for an unknown client.
func (t *sessionTable) load(cid []byte) (sess *fsmpb.Session, found bool, err error) {
	sess = &fsmpb.Session{}
	v := t.sessions.Get(cid)
	if v == nil {
		return sess, false, nil
	}
	if err := proto.Unmarshal(v, sess); err != nil {
		return nil, false, fmt.Errorf("decode session of a %d-byte client id: %w", len(cid), err)
	}
	return sess, true, nil
}

// raiseFloor moves the client's floor up to ack (its min_unacked_seq) and
// drops the results below it: the client will not ask for them again.
func (t *sessionTable) raiseFloor(cid []byte, sess *fsmpb.Session, ack uint64) error {
	if ack <= sess.GetFloor() {
		return nil
	}
	sess.Floor = ack
	for {
		k, seq, ok := t.lowest(cid)
		if !ok || seq >= ack {
			return nil
		}
		if err := t.results.Delete(k); err != nil {
			return fmt.Errorf("drop acknowledged result: %w", err)
		}
		sess.Results--
	}
}

// store records the result of seq and keeps at most limits.results per
// client, evicting the lowest seqs; the floor rises past each evicted one,
// so a late repeat of it is refused rather than applied again.
func (t *sessionTable) store(cid []byte, sess *fsmpb.Session, seq uint64, res Result) error {
	sr := &fsmpb.StoredResult{
		Index:           res.Index,
		Deleted:         res.Deleted,
		ConditionFailed: res.ConditionFailed,
	}
	if res.Current != nil {
		sr.CurrentExists = true
		sr.CurrentCreateIndex = res.Current.CreateIndex
		sr.CurrentModIndex = res.Current.ModIndex
	}
	buf, err := proto.Marshal(sr)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := t.results.Put(resultKey(cid, seq), buf); err != nil {
		return fmt.Errorf("put result: %w", err)
	}
	sess.Results++
	for sess.GetResults() > uint64(t.limits.results) {
		k, low, ok := t.lowest(cid)
		if !ok {
			return fmt.Errorf("session counts %d results but holds none", sess.GetResults())
		}
		if err := t.results.Delete(k); err != nil {
			return fmt.Errorf("evict result: %w", err)
		}
		sess.Results--
		sess.Floor = max(sess.GetFloor(), low+1)
	}
	return nil
}

// touch saves the session as last used at index and, for a new client,
// evicts the least recently used session when there are too many.
func (t *sessionTable) touch(cid []byte, sess *fsmpb.Session, found bool, index uint64) error {
	if found {
		if err := t.lru.Delete(encodeUint64(sess.GetLastIndex())); err != nil {
			return fmt.Errorf("update session order: %w", err)
		}
	}
	sess.LastIndex = index
	if err := t.lru.Put(encodeUint64(index), cid); err != nil {
		return fmt.Errorf("update session order: %w", err)
	}
	buf, err := proto.Marshal(sess)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	if err := t.sessions.Put(cid, buf); err != nil {
		return fmt.Errorf("put session: %w", err)
	}
	if found {
		return nil
	}
	meta := t.tx.Bucket(bucketMeta)
	n, err := readCount(meta, keySessionCount)
	if err != nil {
		return err
	}
	n++
	for n > uint64(t.limits.sessions) {
		if err := t.evictOldest(); err != nil {
			return err
		}
		n--
	}
	return meta.Put(keySessionCount, encodeUint64(n))
}

// evictOldest removes the session whose latest request is oldest in the
// log, with all its results. Its client is refused afterwards
// (ErrSessionExpired) once it names an index it was answered at.
func (t *sessionTable) evictOldest() error {
	k, v := t.lru.Cursor().First()
	if k == nil {
		return fmt.Errorf("session count is above zero but no session is recorded")
	}
	cid := bytes.Clone(v)
	k = bytes.Clone(k)
	for {
		rk, _, ok := t.lowest(cid)
		if !ok {
			break
		}
		if err := t.results.Delete(rk); err != nil {
			return fmt.Errorf("evict session results: %w", err)
		}
	}
	if err := t.sessions.Delete(cid); err != nil {
		return fmt.Errorf("evict session: %w", err)
	}
	if err := t.lru.Delete(k); err != nil {
		return fmt.Errorf("evict session: %w", err)
	}
	return nil
}

// result returns the stored result of (cid, seq), if any.
func (t *sessionTable) result(cid []byte, seq uint64) (*fsmpb.StoredResult, bool, error) {
	v := t.results.Get(resultKey(cid, seq))
	if v == nil {
		return nil, false, nil
	}
	var sr fsmpb.StoredResult
	if err := proto.Unmarshal(v, &sr); err != nil {
		return nil, false, fmt.Errorf("decode stored result: %w", err)
	}
	return &sr, true, nil
}

// lowest returns the key and seq of the client's lowest stored result. The
// key is a copy, safe to delete by.
func (t *sessionTable) lowest(cid []byte) (key []byte, seq uint64, ok bool) {
	prefix := resultPrefix(cid)
	k, _ := t.results.Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
		return nil, 0, false
	}
	return bytes.Clone(k), binary.BigEndian.Uint64(k[len(prefix):]), true
}

// resultPrefix is the results-bucket prefix of one client's keys: the
// client id's length, then the id, so that no id is a prefix of another's
// keys.
func resultPrefix(cid []byte) []byte {
	return append([]byte{byte(len(cid))}, cid...)
}

// resultKey is the results-bucket key of (cid, seq); seq is big-endian so
// that a client's results are in seq order.
func resultKey(cid []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(resultPrefix(cid), seq)
}

// readCount reads an 8-byte counter from b (0 when absent).
func readCount(b *bolt.Bucket, key []byte) (uint64, error) {
	v := b.Get(key)
	if v == nil {
		return 0, nil
	}
	n, err := decodeUint64(v)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	return n, nil
}
