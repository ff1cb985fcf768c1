package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"

	"github.com/raftkv/raftkv/proto/fsmpb"
)

// Page fill of the data bucket (see DESIGN.md, "Page fill").
//
// bbolt splits the pages that outgrew a transaction at commit, packing
// each new page up to the bucket's FillPercent (default 0.5) of the page
// size. That leaves room for keys inserted later anywhere in the bucket,
// but keys loaded in ascending order never come back to a page once the
// load has moved past it: every page stays half empty, and the file grows
// to twice the data. So a transaction that writes only at the end of the
// data bucket packs the pages it splits.
//
// Measured by replaying the order in which kvd applied a load of
// ascending keys from 128 clients (TestStore_ApplyFillsPages models it):
// leaf pages ended 0.48 full with the default, 0.60 when only
// transactions of strictly increasing keys were packed (half of them
// also filled in keys just below the last one), and 0.84 with the rules
// below. Random keys stay at 0.70; packing their pages would give 0.50,
// as every insert then splits a full page.
const (
	// appendFillPercent packs the pages of a transaction whose keys are
	// all above the bucket's last key: nothing will be inserted into them
	// later unless the load order changes. bbolt's Compact packs as full.
	appendFillPercent = 1.0

	// tailFillPercent packs the pages of a transaction whose keys are in
	// the tail but some at or below the last key, leaving room for the
	// stragglers of the next transactions (etcd packs its append-only key
	// bucket at 0.9). Packing these full too splits a full page into a
	// full one and a nearly empty one for each straggler: with keys more
	// out of order than in the measured load, leaf fill fell to 0.61.
	tailFillPercent = 0.9

	// tailKeys is how many of the data bucket's last keys count as its
	// tail. Writes of ascending keys from concurrent clients reach the log
	// slightly out of order: with 128 clients a quarter of the keys landed
	// at or below the bucket's last key, 28 keys below at the median and
	// 219 at most. Stepping back 256 keys costs a few microseconds per
	// transaction, against a millisecond fsync.
	tailKeys = 256
)

// tailFill decides, for one write transaction, how full the data bucket
// packs the pages it splits: appendFillPercent when every key written is
// above the bucket's last key before the transaction, tailFillPercent
// when every key is above the floor, the key tailKeys below the last one,
// and bbolt's default otherwise, so that random writes into a large bucket
// split pages evenly and leave room for later inserts.
type tailFill struct {
	data    *bolt.Bucket
	written bool   // a key has been written; last and floor are set
	last    []byte // the bucket's last key; nil when it was empty
	floor   []byte // the last key not in the tail; nil when every key is
	behind  bool   // a key written is at or below last
	outside bool   // a key written is at or below floor
}

func newTailFill(data *bolt.Bucket) *tailFill {
	return &tailFill{data: data}
}

// observe records the key cmd may write. It must be called before cmd is
// applied, so that the first call sees the bucket as it was. A command that
// turns out to write nothing (a failed condition, a repeated request) still
// counts; that errs only towards less packing.
func (f *tailFill) observe(cmd *fsmpb.Command) {
	var key []byte
	switch op := cmd.GetOp().(type) {
	case *fsmpb.Command_Put:
		key = op.Put.GetKey()
	case *fsmpb.Command_CompareAndSwap:
		key = op.CompareAndSwap.GetKey()
	default:
		// Deletes never split a page, and node metadata is elsewhere.
		return
	}
	if !f.written {
		f.written = true
		f.last, f.floor = tail(f.data)
	}
	if f.last != nil && bytes.Compare(key, f.last) <= 0 {
		f.behind = true
	}
	if f.floor != nil && bytes.Compare(key, f.floor) <= 0 {
		f.outside = true
	}
}

// apply sets the bucket's FillPercent for the commit. bbolt reads it only
// when it splits and merges pages at commit, so setting it after the
// writes is in time. It lasts for this transaction only.
func (f *tailFill) apply() {
	switch {
	case !f.written || f.outside:
	case !f.behind:
		f.data.FillPercent = appendFillPercent
	default:
		f.data.FillPercent = tailFillPercent
	}
}

// tail returns b's last key and the key tailKeys below it, which is nil
// when b holds no more than tailKeys keys. Both are nil for an empty b.
func tail(b *bolt.Bucket) (last, floor []byte) {
	c := b.Cursor()
	k, _ := c.Last()
	last = bytes.Clone(k)
	for i := 0; i < tailKeys && k != nil; i++ {
		k, _ = c.Prev()
	}
	return last, bytes.Clone(k)
}
