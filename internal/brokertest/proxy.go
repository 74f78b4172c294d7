package brokertest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is the fault a Proxy injects. Modes apply to existing connections and
// new ones alike unless stated otherwise.
type Mode int

const (
	// Pass forwards bytes both ways.
	Pass Mode = iota
	// Blackhole keeps every socket open, existing and new, but discards all
	// bytes both ways: a silent partition that only keepalives can detect.
	// New connections are not dialled through to the target, so the broker
	// does not see them; they are closed when the mode changes, as are
	// connections whose other side closed during the partition. Bytes dropped
	// mid-packet corrupt a stream that outlives the partition, as they would
	// behind a real middlebox that lost state.
	Blackhole
	// Reset aborts every connection with an RST, and new ones as soon as they
	// are accepted.
	Reset
	// Delay forwards each chunk after the latency set by SetDelay, keeping
	// order; a round trip therefore gains twice the delay.
	Delay
	// AcceptClose accepts new connections and closes them at once, like a
	// misbehaving load balancer. Existing connections keep passing.
	AcceptClose
	// Refuse stops listening, so connects are refused, until the mode changes
	// and the proxy listens again on the same port. Existing connections keep
	// passing.
	Refuse
)

// String returns the mode's name, for test logs.
func (m Mode) String() string {
	names := [...]string{"Pass", "Blackhole", "Reset", "Delay", "AcceptClose", "Refuse"}
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Proxy is a TCP proxy on 127.0.0.1 in front of a broker that injects
// network faults on demand. It is safe for concurrent use, including mode
// changes while traffic flows.
type Proxy struct {
	target string
	port   int
	ctx    context.Context // cancelled by Close to cut dials and delays short
	cancel context.CancelFunc
	mode   atomic.Int32 // read lock-free by the pumps; written under mu
	delay  atomic.Int64
	held   atomic.Int32 // chunks waiting out a Delay; lets tests sync on it
	wg     sync.WaitGroup

	mu      sync.Mutex
	sent    map[*link]*bytes.Buffer // what each client sent, while recording
	ln      net.Listener            // nil while refusing or closed
	links   map[*link]struct{}
	accepts []time.Time
	active  int
	closed  bool
}

// link is a proxied connection; up is nil for a connection accepted during a
// Blackhole, which has nothing behind it.
type link struct {
	client, up         net.Conn
	clientDone, upDone bool // guarded by Proxy.mu
}

// NewProxy starts a proxy to target ("host:port") on a free loopback port,
// in Pass mode.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, port: ln.Addr().(*net.TCPAddr).Port, ln: ln, links: map[*link]struct{}{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.serve(ln)
	return p, nil
}

// StartProxy is NewProxy tied to t: the proxy is closed by t.Cleanup, and a
// failure is fatal.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Port returns the port the proxy listens on, kept across Refuse.
func (p *Proxy) Port() int { return p.port }

// Addr returns "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// URI returns "tcp://127.0.0.1:PORT", the form MQTT clients take.
func (p *Proxy) URI() string { return "tcp://" + p.Addr() }

// SetDelay sets the latency added to each chunk in Delay mode.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// SetMode switches the injected fault; see Mode for what each one does.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	old := Mode(p.mode.Swap(int32(m)))
	for l := range p.links {
		switch {
		case m == Reset:
			p.shut(l, true, true, true)
		case old == Blackhole && m != Blackhole && (l.clientDone || l.upDone):
			// Healing delivers the closes the partition held back; a
			// connection made during it (no upstream) never got through.
			p.shut(l, true, true, false)
		}
	}
	switch {
	case m == Refuse && p.ln != nil:
		p.ln.Close()
		p.ln = nil
	case m != Refuse && p.ln == nil:
		p.listen()
	}
}

// listen re-opens the listener after Refuse. Called with mu held.
func (p *Proxy) listen() {
	// The port can stay busy briefly after a close; a few quick retries
	// cover that without letting SetMode hang.
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", p.Addr())
		if err == nil {
			p.ln = ln
			p.wg.Add(1)
			go p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Accepted returns how many connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accepts)
}

// AcceptTimes returns when each connection was accepted, oldest first, for
// asserting reconnect rates and backoff.
func (p *Proxy) AcceptTimes() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.accepts...)
}

// Active returns how many client connections are currently open.
func (p *Proxy) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active
}

// Close stops listening, closes every connection and waits for all of the
// proxy's goroutines. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.cancel()
		if p.ln != nil {
			p.ln.Close()
			p.ln = nil
		}
		for l := range p.links {
			p.shut(l, true, true, false)
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *Proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: back off, don't spin
			continue
		}
		p.mu.Lock()
		p.accepts = append(p.accepts, time.Now())
		switch mode := Mode(p.mode.Load()); {
		case p.closed || mode == Reset:
			abort(c)
		case mode == AcceptClose:
			c.Close()
		default:
			// Added under mu so that Close, once it holds mu, sees every
			// handler it has to wait for.
			p.wg.Add(1)
			go p.handle(c, mode == Blackhole)
		}
		p.mu.Unlock()
	}
}

// handle connects c to the target (unless it arrived during a Blackhole) and
// pumps bytes until either side is done.
func (p *Proxy) handle(c net.Conn, sink bool) {
	defer p.wg.Done()
	l := &link{client: c, upDone: sink}
	if !sink {
		var d net.Dialer
		up, err := d.DialContext(p.ctx, "tcp", p.target)
		if err != nil {
			// Resetting the client mirrors the refused connect it would have
			// got without the proxy in between.
			abort(c)
			return
		}
		l.up = up
	}
	p.mu.Lock()
	p.links[l] = struct{}{}
	p.active++
	mode := Mode(p.mode.Load())
	switch {
	case p.closed:
		p.shut(l, true, true, false)
	case mode == Reset:
		p.shut(l, true, true, true)
	case sink && mode != Blackhole:
		p.shut(l, true, true, false)
	}
	p.mu.Unlock()
	if !sink {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pump(l, false)
		}()
	}
	p.pump(l, true)
}

// pump copies from one side of l to the other, applying the current mode to
// every chunk.
func (p *Proxy) pump(l *link, fromClient bool) {
	src, dst := l.client, l.up
	if !fromClient {
		src, dst = l.up, l.client
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && fromClient {
			p.record(l, buf[:n])
		}
		if n > 0 && !p.forward(dst, buf[:n]) {
			p.lockedShut(l, true, true)
			return
		}
		if err != nil {
			// Inside a partition a close must not reach the other side, or
			// the broker would learn of the disconnect instantly.
			if Mode(p.mode.Load()) == Blackhole {
				p.lockedShut(l, fromClient, !fromClient)
			} else {
				p.lockedShut(l, true, true)
			}
			return
		}
	}
}

// Record starts keeping the bytes every client sends through the proxy, in
// order, one stream per connection, for tests that check what reached the
// broker on the wire.
func (p *Proxy) Record() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sent == nil {
		p.sent = map[*link]*bytes.Buffer{}
	}
}

// Sent returns, since Record, what the clients sent: one byte stream per
// connection (in no particular order among connections).
func (p *Proxy) Sent() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]byte
	for _, b := range p.sent {
		out = append(out, bytes.Clone(b.Bytes()))
	}
	return out
}

func (p *Proxy) record(l *link, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sent == nil {
		return
	}
	buf := p.sent[l]
	if buf == nil {
		buf = &bytes.Buffer{}
		p.sent[l] = buf
	}
	buf.Write(b)
}

// forward writes b to dst as the mode dictates; false means the link is
// finished.
func (p *Proxy) forward(dst net.Conn, b []byte) bool {
	switch Mode(p.mode.Load()) {
	case Blackhole:
		return true
	case Delay:
		t := time.NewTimer(time.Duration(p.delay.Load()))
		defer t.Stop()
		p.held.Add(1)
		defer p.held.Add(-1)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			return false
		}
	}
	if dst == nil {
		return false
	}
	_, err := dst.Write(b)
	return err == nil
}

func (p *Proxy) lockedShut(l *link, client, up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shut(l, client, up, false)
}

// shut closes the chosen sides of l, with an RST if hard, and forgets l once
// both are closed. Called with mu held.
func (p *Proxy) shut(l *link, client, up, hard bool) {
	if client && !l.clientDone {
		l.clientDone = true
		p.active--
		closeConn(l.client, hard)
	}
	if up && !l.upDone {
		l.upDone = true
		closeConn(l.up, hard)
	}
	if l.clientDone && l.upDone {
		delete(p.links, l)
	}
}

func closeConn(c net.Conn, hard bool) {
	if hard {
		abort(c)
	} else {
		c.Close()
	}
}

// abort closes c with an RST instead of a FIN, so the peer sees ECONNRESET.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
