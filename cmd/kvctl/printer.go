package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raftkv/raftkv/client"
)

// printer writes command results in one output format (--write-out).
type printer interface {
	put(w io.Writer, key string, r *client.PutResponse) error
	get(w io.Writer, r *client.GetResponse) error
	list(w io.Writer, r *client.ListResponse) error
	del(w io.Writer, key string, r *client.DeleteResponse) error
	cas(w io.Writer, key string) error
	members(w io.Writer, ms []client.Member) error
	status(w io.Writer, rows []statusRow) error
	// done reports a change that has no result but its success (member
	// add/remove/promote, leader transfer).
	done(w io.Writer, msg string) error
}

// newPrinter returns the printer for a --write-out value.
func newPrinter(format string) (printer, error) {
	switch format {
	case "simple":
		return simplePrinter{}, nil
	case "table":
		return tablePrinter{}, nil
	case "json":
		return jsonPrinter{}, nil
	}
	return nil, fmt.Errorf("--write-out must be simple, table or json, got %q", format)
}

// simplePrinter is etcdctl-like plain output: put prints OK, get the value,
// del the number of keys deleted (1 or 0), lists and status one
// comma-separated line per item.
type simplePrinter struct{}

func (simplePrinter) put(w io.Writer, _ string, _ *client.PutResponse) error {
	_, err := fmt.Fprintln(w, "OK")
	return err
}

func (simplePrinter) get(w io.Writer, r *client.GetResponse) error {
	_, err := fmt.Fprintf(w, "%s\n", r.KV.Value)
	return err
}

func (simplePrinter) list(w io.Writer, r *client.ListResponse) error {
	for _, kv := range r.KVs {
		if _, err := fmt.Fprintf(w, "%s\n%s\n", kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

func (simplePrinter) cas(w io.Writer, _ string) error {
	_, err := fmt.Fprintln(w, "OK")
	return err
}

func (simplePrinter) del(w io.Writer, _ string, r *client.DeleteResponse) error {
	_, err := fmt.Fprintln(w, deletedCount(r))
	return err
}

func (simplePrinter) members(w io.Writer, ms []client.Member) error {
	for _, m := range ms {
		if _, err := fmt.Fprintln(w, strings.Join(memberCells(m), ", ")); err != nil {
			return err
		}
	}
	return nil
}

func (simplePrinter) status(w io.Writer, rows []statusRow) error {
	for _, r := range rows {
		if _, err := fmt.Fprintln(w, strings.Join(statusCells(r), ", ")); err != nil {
			return err
		}
	}
	return nil
}

// tablePrinter prints aligned columns under a header row.
type tablePrinter struct{}

// table writes a header and rows as aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (tablePrinter) put(w io.Writer, key string, r *client.PutResponse) error {
	return table(w, []string{"KEY", "INDEX", "NODE"},
		[][]string{{key, u(r.Index), r.Header.NodeID}})
}

func (tablePrinter) get(w io.Writer, r *client.GetResponse) error {
	return table(w, kvHeader, [][]string{kvCells(r.KV)})
}

func (tablePrinter) list(w io.Writer, r *client.ListResponse) error {
	rows := make([][]string, 0, len(r.KVs))
	for _, kv := range r.KVs {
		rows = append(rows, kvCells(kv))
	}
	return table(w, kvHeader, rows)
}

func (tablePrinter) cas(w io.Writer, key string) error {
	return table(w, []string{"KEY", "SWAPPED"}, [][]string{{key, "true"}})
}

func (tablePrinter) del(w io.Writer, key string, r *client.DeleteResponse) error {
	return table(w, []string{"KEY", "DELETED", "INDEX", "NODE"},
		[][]string{{key, strconv.Itoa(deletedCount(r)), u(r.Index), r.Header.NodeID}})
}

func (tablePrinter) members(w io.Writer, ms []client.Member) error {
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, memberCells(m))
	}
	return table(w, []string{"ID", "GRPC ADDR", "RAFT ADDR", "VOTER", "LEADER"}, rows)
}

func (tablePrinter) status(w io.Writer, rows []statusRow) error {
	cells := make([][]string, 0, len(rows))
	for _, r := range rows {
		cells = append(cells, statusCells(r))
	}
	return table(w, []string{"ID", "GRPC ADDR", "RAFT ADDR", "ROLE", "VOTER", "TERM",
		"LAST LOG", "COMMIT", "APPLIED", "LAG", "LAST CONTACT", "DEGRADED", "ERROR"}, cells)
}

// kvHeader is the table header for key-values.
var kvHeader = []string{"KEY", "VALUE", "CREATE INDEX", "MOD INDEX"}

// kvCells is one key-value's table row.
func kvCells(kv client.KeyValue) []string {
	return []string{kv.Key, string(kv.Value), u(kv.CreateIndex), u(kv.ModIndex)}
}

// memberCells is one member's row: id, addresses, voter, leader.
func memberCells(m client.Member) []string {
	return []string{m.ID, m.GRPCAddr, m.RaftAddr, strconv.FormatBool(m.Voter), strconv.FormatBool(m.Leader)}
}

// statusCells is one member's status row. A member that did not answer has
// "-" in the columns it would have filled, and its error last. DEGRADED is
// the member's own report (its response header): it has lost contact with a
// quorum and serves stale reads only.
func statusCells(r statusRow) []string {
	s := r.Status
	if s == nil {
		return []string{r.Member.ID, r.Member.GRPCAddr, r.Member.RaftAddr, "-", strconv.FormatBool(r.Member.Voter),
			"-", "-", "-", "-", "-", "-", "-", r.Err.Error()}
	}
	return []string{s.ID, s.GRPCAddr, s.RaftAddr, s.Role, strconv.FormatBool(s.Voter), u(s.Term),
		u(s.LastLogIndex), u(s.CommitIndex), u(s.AppliedIndex), u(r.Lag), lastContact(s.LastContact),
		strconv.FormatBool(s.Header.Degraded), ""}
}

// lastContact formats a Status.LastContact.
func lastContact(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.String()
}

// deletedCount is 1 if the delete removed a key, else 0 (etcdctl style).
func deletedCount(r *client.DeleteResponse) int {
	if r.Deleted {
		return 1
	}
	return 0
}

// u formats an unsigned integer.
func u(v uint64) string { return strconv.FormatUint(v, 10) }

// jsonPrinter prints one indented JSON document per command, including the
// response header. Values are []byte and so base64-encoded, as etcdctl does,
// because they may be binary.
type jsonPrinter struct{}

// jsonHeader is the JSON form of client.Header.
type jsonHeader struct {
	NodeID        string `json:"node_id"`
	LeaderID      string `json:"leader_id"`
	LeaderAddr    string `json:"leader_addr"`
	Term          uint64 `json:"term"`
	AppliedIndex  uint64 `json:"applied_index"`
	LeaderKnown   bool   `json:"leader_known"`
	LastContactMs int64  `json:"last_contact_ms"` // -1: never
	Degraded      bool   `json:"degraded"`
	// Consistency is the level a read was served at; absent on writes.
	Consistency string `json:"consistency,omitempty"`
}

// jsonKV is the JSON form of client.KeyValue.
type jsonKV struct {
	Key         string `json:"key"`
	Value       []byte `json:"value"`
	CreateIndex uint64 `json:"create_index"`
	ModIndex    uint64 `json:"mod_index"`
}

// jsonKVs is the JSON answer of get, with or without --prefix.
type jsonKVs struct {
	Header jsonHeader `json:"header"`
	KVs    []jsonKV   `json:"kvs"`
	Count  int        `json:"count"`
	More   bool       `json:"more"`
}

// jsonMember is the JSON form of client.Member.
type jsonMember struct {
	ID       string `json:"id"`
	GRPCAddr string `json:"grpc_addr"`
	RaftAddr string `json:"raft_addr"`
	Voter    bool   `json:"voter"`
	Leader   bool   `json:"leader"`
}

// jsonStatus is one member's entry in the JSON answer of cluster status.
type jsonStatus struct {
	jsonMember
	Role          string      `json:"role,omitempty"`
	Term          uint64      `json:"term"`
	LastLogIndex  uint64      `json:"last_log_index"`
	CommitIndex   uint64      `json:"commit_index"`
	AppliedIndex  uint64      `json:"applied_index"`
	Lag           uint64      `json:"lag"`
	LastContactMs int64       `json:"last_contact_ms"` // -1: never
	Degraded      bool        `json:"degraded"`
	Header        *jsonHeader `json:"header,omitempty"`
	Error         string      `json:"error,omitempty"`
}

func header(h client.Header) jsonHeader {
	out := jsonHeader{NodeID: h.NodeID, LeaderID: h.LeaderID, LeaderAddr: h.LeaderAddr, Term: h.Term,
		AppliedIndex: h.AppliedIndex, LeaderKnown: h.LeaderKnown, LastContactMs: -1, Degraded: h.Degraded}
	if h.LastContact >= 0 {
		out.LastContactMs = h.LastContact.Milliseconds()
	}
	if h.Consistency != 0 {
		out.Consistency = h.Consistency.String()
	}
	return out
}

func kvJSON(kv client.KeyValue) jsonKV {
	return jsonKV{Key: kv.Key, Value: kv.Value, CreateIndex: kv.CreateIndex, ModIndex: kv.ModIndex}
}

func memberJSON(m client.Member) jsonMember {
	return jsonMember{ID: m.ID, GRPCAddr: m.GRPCAddr, RaftAddr: m.RaftAddr, Voter: m.Voter, Leader: m.Leader}
}

// emit writes v as indented JSON.
func emit(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (jsonPrinter) put(w io.Writer, key string, r *client.PutResponse) error {
	return emit(w, struct {
		Header jsonHeader `json:"header"`
		Key    string     `json:"key"`
		Index  uint64     `json:"index"`
	}{header(r.Header), key, r.Index})
}

func (jsonPrinter) get(w io.Writer, r *client.GetResponse) error {
	return emit(w, jsonKVs{Header: header(r.Header), KVs: []jsonKV{kvJSON(r.KV)}, Count: 1})
}

func (jsonPrinter) list(w io.Writer, r *client.ListResponse) error {
	out := jsonKVs{Header: header(r.Header), KVs: []jsonKV{}, Count: len(r.KVs), More: r.More}
	for _, kv := range r.KVs {
		out.KVs = append(out.KVs, kvJSON(kv))
	}
	return emit(w, out)
}

func (jsonPrinter) del(w io.Writer, key string, r *client.DeleteResponse) error {
	return emit(w, struct {
		Header  jsonHeader `json:"header"`
		Key     string     `json:"key"`
		Index   uint64     `json:"index"`
		Deleted int        `json:"deleted"`
	}{header(r.Header), key, r.Index, deletedCount(r)})
}

func (jsonPrinter) cas(w io.Writer, key string) error {
	return emit(w, struct {
		Key     string `json:"key"`
		Swapped bool   `json:"swapped"`
	}{key, true})
}

func (jsonPrinter) members(w io.Writer, ms []client.Member) error {
	out := struct {
		Members []jsonMember `json:"members"`
	}{Members: []jsonMember{}}
	for _, m := range ms {
		out.Members = append(out.Members, memberJSON(m))
	}
	return emit(w, out)
}

func (jsonPrinter) status(w io.Writer, rows []statusRow) error {
	out := struct {
		Members []jsonStatus `json:"members"`
	}{Members: []jsonStatus{}}
	for _, r := range rows {
		js := jsonStatus{jsonMember: memberJSON(r.Member), LastContactMs: -1}
		if s := r.Status; s != nil {
			h := header(s.Header)
			js.ID, js.GRPCAddr, js.RaftAddr, js.Voter = s.ID, s.GRPCAddr, s.RaftAddr, s.Voter
			js.Role, js.Term, js.LastLogIndex, js.CommitIndex, js.AppliedIndex = s.Role, s.Term, s.LastLogIndex, s.CommitIndex, s.AppliedIndex
			js.Lag, js.Degraded, js.Header = r.Lag, s.Header.Degraded, &h
			if s.LastContact >= 0 {
				js.LastContactMs = s.LastContact.Milliseconds()
			}
		}
		if r.Err != nil {
			js.Error = r.Err.Error()
		}
		out.Members = append(out.Members, js)
	}
	return emit(w, out)
}

func (simplePrinter) done(w io.Writer, msg string) error {
	_, err := fmt.Fprintln(w, msg)
	return err
}

func (tablePrinter) done(w io.Writer, msg string) error {
	_, err := fmt.Fprintln(w, msg)
	return err
}

func (jsonPrinter) done(w io.Writer, msg string) error {
	return emit(w, struct {
		OK      bool   `json:"ok"`
		Message string `json:"message"`
	}{true, msg})
}
