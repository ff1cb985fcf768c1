package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
)

func TestNewPrinter(t *testing.T) {
	for _, f := range []string{"simple", "table", "json"} {
		if _, err := newPrinter(f); err != nil {
			t.Errorf("newPrinter(%q): %v", f, err)
		}
	}
	if _, err := newPrinter("yaml"); err == nil {
		t.Error("newPrinter(yaml) succeeded, want an error")
	}
}

func TestPrinters(t *testing.T) {
	put := &client.PutResponse{Header: testHeader, Index: 10}
	del := &client.DeleteResponse{Header: testHeader, Index: 11, Deleted: true}
	get := &client.GetResponse{Header: testHeader, KV: client.KeyValue{Key: "k", Value: []byte("v"), CreateIndex: 1, ModIndex: 2}}
	rows := []statusRow{
		{Member: client.Member{ID: "n1"}, Status: &client.Status{ID: "n1", GRPCAddr: "g1", RaftAddr: "r1", Role: "candidate",
			Term: 3, LastContact: -1, Header: client.Header{NodeID: "n1", Degraded: true, LastContact: -1}}},
		{Member: client.Member{ID: "n2", GRPCAddr: "g2", RaftAddr: "r2"}, Err: errors.New("refused")},
	}
	tests := []struct {
		name  string
		print func(printer, *bytes.Buffer) error
		want  map[string]string // by format
	}{
		{"put", func(p printer, w *bytes.Buffer) error { return p.put(w, "k", put) }, map[string]string{
			"simple": "OK\n",
			"table":  "KEY  INDEX  NODE\nk    10     n1\n",
		}},
		{"del", func(p printer, w *bytes.Buffer) error { return p.del(w, "k", del) }, map[string]string{
			"simple": "1\n",
			"table":  "KEY  DELETED  INDEX  NODE\nk    1        11     n1\n",
		}},
		{"get", func(p printer, w *bytes.Buffer) error { return p.get(w, get) }, map[string]string{
			"simple": "v\n",
			"table":  "KEY  VALUE  CREATE INDEX  MOD INDEX\nk    v      1             2\n",
		}},
		{"status", func(p printer, w *bytes.Buffer) error { return p.status(w, rows) }, map[string]string{
			"simple": "n1, g1, r1, candidate, false, 3, 0, 0, 0, 0, never, true, \nn2, g2, r2, -, false, -, -, -, -, -, -, -, refused\n",
			"table": "ID  GRPC ADDR  RAFT ADDR  ROLE       VOTER  TERM  LAST LOG  COMMIT  APPLIED  LAG  LAST CONTACT  DEGRADED  ERROR\n" +
				"n1  g1         r1         candidate  false  3     0         0       0        0    never         true      \n" +
				"n2  g2         r2         -          false  -     -         -       -        -    -             -         refused\n",
		}},
	}
	for _, tt := range tests {
		for format, want := range tt.want {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				p, err := newPrinter(format)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := tt.print(p, &buf); err != nil {
					t.Fatal(err)
				}
				if buf.String() != want {
					t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
				}
			})
		}
	}
}

func TestJSONPrinter_PutDel(t *testing.T) {
	var buf bytes.Buffer
	p := jsonPrinter{}
	if err := p.put(&buf, "k", &client.PutResponse{Header: testHeader, Index: 10}); err != nil {
		t.Fatal(err)
	}
	if err := p.del(&buf, "k", &client.DeleteResponse{Header: testHeader, Index: 11}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"index": 10`, `"leader_addr": "127.0.0.1:7001"`, `"deleted": 0`, `"applied_index": 9`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON output lacks %s:\n%s", want, buf.String())
		}
	}
}

func TestLastContact(t *testing.T) {
	for d, want := range map[time.Duration]string{-1: "never", 0: "0s", 1500 * time.Millisecond: "1.5s"} {
		if got := lastContact(d); got != want {
			t.Errorf("lastContact(%v) = %q, want %q", d, got, want)
		}
	}
}
