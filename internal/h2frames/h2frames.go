// Package h2frames counts the HTTP/2 PING frames crossing a listener's
// connections, so tests can pin down what gRPC puts on the wire. It parses
// only frame headers (RFC 9113 §4.1) and never changes the bytes.
package h2frames

import (
	"net"
	"sync"
	"sync/atomic"
)

// clientPreface is what an HTTP/2 client sends before its first frame.
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

const (
	frameHeaderLen = 9
	framePing      = 0x6
	flagAck        = 0x1
)

// Listener wraps a net.Listener and counts, over every connection it
// accepts, the PING frames that are not acknowledgements, in each
// direction. It is safe for concurrent use.
type Listener struct {
	net.Listener
	fromClient atomic.Int64 // PINGs read from the accepted connections
	fromServer atomic.Int64 // PINGs written to them
}

// Wrap returns a Listener over l.
func Wrap(l net.Listener) *Listener { return &Listener{Listener: l} }

// Accept accepts a connection and counts the PINGs it carries.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{
		Conn:  c,
		read:  &parser{skip: len(clientPreface), pings: &l.fromClient},
		wrote: &parser{pings: &l.fromServer},
	}, nil
}

// Pings returns the PING frames, acknowledgements left out, that clients
// sent to the server and that the server sent to clients so far.
func (l *Listener) Pings() (fromClient, fromServer int64) {
	return l.fromClient.Load(), l.fromServer.Load()
}

type conn struct {
	net.Conn
	read, wrote *parser
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.feed(p[:n])
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.wrote.feed(p[:n])
	return n, err
}

// parser follows the frame boundaries of one direction of a connection.
type parser struct {
	mu    sync.Mutex
	skip  int    // bytes still to pass over: the preface, or a frame's payload
	head  []byte // the part of a frame header seen so far
	pings *atomic.Int64
}

func (p *parser) feed(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 {
		if p.skip > 0 {
			n := min(p.skip, len(b))
			p.skip -= n
			b = b[n:]
			continue
		}
		n := min(frameHeaderLen-len(p.head), len(b))
		p.head = append(p.head, b[:n]...)
		b = b[n:]
		if len(p.head) < frameHeaderLen {
			return
		}
		length := int(p.head[0])<<16 | int(p.head[1])<<8 | int(p.head[2])
		if p.head[3] == framePing && p.head[4]&flagAck == 0 {
			p.pings.Add(1)
		}
		p.skip = length
		p.head = p.head[:0]
	}
}
