package core

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// The transport under paho.mqtt.golang. Paho reads a packet with at least three read(2)
// calls (type, length, body) and writes each packet with its own write(2); at tens of
// thousands of messages a second those system calls are most of the client's CPU. Here reads
// go through a buffer, and writes are queued and sent by a flusher goroutine that writes
// everything queued since its last write in one call: one system call for a burst, and no
// waiting when there is no burst.

// coalesceLimit is how many bytes may wait for the flusher before paho's writer blocks, as it
// would on a full socket buffer.
const coalesceLimit = 256 << 10

// closeFlushTimeout bounds how long closing waits for queued bytes (a DISCONNECT) to go out.
const closeFlushTimeout = time.Second

// dialTransport opens the network connection paho speaks MQTT over, for every scheme
// parseBrokerURI accepts.
// Ending ctx abandons the dial (the cluster is closing).
func dialTransport(ctx context.Context, u *url.URL, tlsConfig *tls.Config, timeout, writeTimeout time.Duration, maxIncoming int) (*coalescingConn, error) {
	var conn net.Conn
	var err error
	switch u.Scheme {
	case "ws", "wss":
		dialURI := *u
		dialURI.User = nil
		var tc *tls.Config
		if u.Scheme == "wss" {
			tc = tlsConfig
		}
		conn, err = mqtt.NewWebsocket(dialURI.String(), tc, timeout, nil, nil)
		var dialErr *net.OpError
		if err != nil && !(errors.As(err, &dialErr) && dialErr.Op == "dial") {
			err = &refusal{err} // reached, but the upgrade (or TLS) was refused
		}
	case "tcp", "ssl":
		// A SOCKS proxy from ALL_PROXY is honoured, as paho does.
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		dialer := proxy.FromEnvironmentUsing(&net.Dialer{Timeout: timeout})
		if cd, ok := dialer.(proxy.ContextDialer); ok {
			conn, err = cd.DialContext(ctx, "tcp", u.Host)
		} else {
			conn, err = dialer.Dial("tcp", u.Host)
		}
		if err == nil && u.Scheme == "ssl" {
			if conn, err = tlsHandshake(ctx, conn, u.Hostname(), tlsConfig); err != nil {
				err = &refusal{err} // reached: a handshake costs the broker something
			}
		}
	default:
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	c := newCoalescingConn(conn, writeTimeout)
	c.in = &inboundGuard{r: c.r, max: maxIncoming}
	return c, nil
}

func tlsHandshake(ctx context.Context, conn net.Conn, host string, cfg *tls.Config) (net.Conn, error) {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// coalescingConn is a net.Conn with buffered reads and coalesced writes. Write only queues
// (blocking while coalesceLimit bytes wait); the first write error is returned by every later
// Write and closes the connection, so paho's reader sees the loss too.
type coalescingConn struct {
	net.Conn
	r            *bufio.Reader
	in           io.Reader // r, or the inboundGuard over it that checks every packet
	writeTimeout time.Duration

	mu      sync.Mutex
	space   sync.Cond // signalled when the flusher took the queue or failed
	queue   []byte
	spare   []byte
	err     error
	closing bool

	wake    chan struct{} // capacity 1: there is something to write, or closing
	flushed chan struct{} // closed when the flusher has ended
	once    sync.Once
}

func newCoalescingConn(conn net.Conn, writeTimeout time.Duration) *coalescingConn {
	c := &coalescingConn{Conn: conn, r: newCoalescingConnReader(conn), writeTimeout: writeTimeout,
		wake: make(chan struct{}, 1), flushed: make(chan struct{})}
	c.in = c.r
	c.space.L = &c.mu
	go c.flusher()
	return c
}

func (c *coalescingConn) Read(p []byte) (int, error) { return c.in.Read(p) }

// errTransportClosed has the text of net.ErrClosed on purpose: paho recognises a write to a
// connection closed on its own side by that text and does not report it as a loss.
var errTransportClosed = errors.New("use of closed network connection")

func (c *coalescingConn) Write(p []byte) (int, error) {
	if err := c.enqueue(func(q []byte) []byte { return append(q, p...) }); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writePublishQoS0 queues a QoS 0 PUBLISH packet, encoded straight into the queue: no packet
// object, no hop through paho's writer. QoS 0 needs nothing from paho (no message id, no
// acknowledgement, no store), and one enqueue keeps the packet whole between paho's own.
func (c *coalescingConn) writePublishQoS0(topic string, payload []byte, retained bool) error {
	return c.enqueue(func(q []byte) []byte {
		header := byte(0x30) // PUBLISH, QoS 0
		if retained {
			header |= 0x01
		}
		q = appendRemainingLength(append(q, header), 2+len(topic)+len(payload))
		q = append(q, byte(len(topic)>>8), byte(len(topic)))
		q = append(q, topic...)
		return append(q, payload...)
	})
}

// enqueue appends to the queue with fill (waiting while coalesceLimit bytes wait) and wakes
// the flusher.
func (c *coalescingConn) enqueue(fill func([]byte) []byte) error {
	c.mu.Lock()
	for c.err == nil && !c.closing && len(c.queue) >= coalesceLimit {
		c.space.Wait()
	}
	switch {
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return err
	case c.closing:
		c.mu.Unlock()
		return errTransportClosed
	}
	c.queue = fill(c.queue)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // the flusher is awake already and will see the queue
	}
	return nil
}

// SetWriteDeadline is ignored: writes happen on the flusher, which bounds each of them by
// writeTimeout itself (paho sets a deadline around every packet, which costs more than the
// write it guards once writes are coalesced). paho's write timeout is still set, because it
// also bounds Publish's hand-off to paho's writer.
func (c *coalescingConn) SetWriteDeadline(time.Time) error { return nil }

func (c *coalescingConn) flusher() {
	defer close(c.flushed)
	for range c.wake {
		for {
			c.mu.Lock()
			out, closing := c.queue, c.closing
			if len(out) == 0 {
				c.mu.Unlock()
				if closing {
					return
				}
				break
			}
			c.queue, c.spare = c.spare[:0], nil // double buffering: Write fills one while this sends the other
			c.space.Broadcast()
			c.mu.Unlock()
			timeout := c.writeTimeout
			if closing && (timeout <= 0 || timeout > closeFlushTimeout) {
				timeout = closeFlushTimeout
			}
			if timeout > 0 {
				_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
			}
			_, err := c.Conn.Write(out)
			c.mu.Lock()
			c.spare = out[:0]
			if err != nil {
				c.err = err
				c.space.Broadcast()
			}
			c.mu.Unlock()
			if err != nil {
				c.Conn.Close()
				return
			}
		}
	}
}

// Close sends what is queued (within closeFlushTimeout) and closes the connection.
func (c *coalescingConn) Close() error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.space.Broadcast()
		c.mu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
		t := time.NewTimer(closeFlushTimeout + 100*time.Millisecond)
		select {
		case <-c.flushed:
		case <-t.C: // a write is stuck: closing the socket ends it
		}
		t.Stop()
		err = c.Conn.Close()
		<-c.flushed
	})
	return err
}

// appendRemainingLength appends n as MQTT's variable-length "remaining length".
func appendRemainingLength(q []byte, n int) []byte {
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		q = append(q, b)
		if n == 0 {
			return q
		}
	}
}
