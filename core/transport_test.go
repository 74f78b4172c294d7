package core

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// tcpPair is a connected loopback TCP pair: the client end wrapped, the server end raw.
func tcpPair(t *testing.T) (*coalescingConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	c := newCoalescingConn(raw, 2*time.Second)
	t.Cleanup(func() {
		c.Close()
		server.Close()
	})
	return c, server
}

func TestCoalescingConnKeepsEveryByteInOrder(t *testing.T) {
	c, server := tcpPair(t)
	const writers, each = 4, 2000
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// One record per Write: writer id, sequence, and a body whose size varies.
				rec := append([]byte{byte(w), byte(i >> 8), byte(i)}, bytes.Repeat([]byte{byte(i)}, i%300)...)
				rec = append([]byte{byte(len(rec) >> 8), byte(len(rec))}, rec...)
				if _, err := c.Write(rec); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	done := make(chan error, 1)
	go func() {
		hdr := make([]byte, 2)
		for got := 0; got < writers*each; got++ {
			if _, err := io.ReadFull(server, hdr); err != nil {
				done <- err
				return
			}
			rec := make([]byte, int(hdr[0])<<8|int(hdr[1]))
			if _, err := io.ReadFull(server, rec); err != nil {
				done <- err
				return
			}
			w, seq := int(rec[0]), int(rec[1])<<8|int(rec[2])
			if seq != next[w] || len(rec)-3 != seq%300 || !bytes.Equal(rec[3:], bytes.Repeat([]byte{byte(seq)}, seq%300)) {
				done <- errors.New("a record arrived out of order or damaged")
				return
			}
			next[w]++
		}
		done <- nil
	}()
	wg.Wait()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("records still missing: %v of %d each", next, each)
	}
}

func TestCoalescingConnReadsThroughABuffer(t *testing.T) {
	c, server := tcpPair(t)
	msg := []byte("\x30\x05\x00\x01tx") // a PUBLISH to "t" with payload "x", read the way paho does
	if _, err := server.Write(append(msg, msg...)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 0x30 {
			t.Fatalf("packet %d: type byte %x, %v", i, b, err)
		}
		rest := make([]byte, len(msg)-1)
		if _, err := io.ReadFull(c, rest); err != nil || !bytes.Equal(rest, msg[1:]) {
			t.Fatalf("packet %d: %q, %v", i, rest, err)
		}
	}
}

func TestCoalescingConnCloseSendsWhatIsQueued(t *testing.T) {
	c, server := tcpPair(t)
	payload := bytes.Repeat([]byte("d"), 100_000)
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{0xe0, 0x00}); err != nil { // DISCONNECT, then paho closes at once
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(payload)+2 || got[len(got)-2] != 0xe0 {
		t.Fatalf("the peer got %d bytes ending %x; want %d ending with the DISCONNECT", len(got), got[max(0, len(got)-2):], len(payload)+2)
	}
	if _, err := c.Write([]byte("late")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

func TestCoalescingConnWriteErrorsReachTheWriter(t *testing.T) {
	c, server := tcpPair(t)
	server.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Write(make([]byte, 1024)); err != nil {
			break // the flusher's failure, reported to paho's writer
		}
		if time.Now().After(deadline) {
			t.Fatal("writes to a closed peer kept succeeding")
		}
		time.Sleep(time.Millisecond)
	}
	// The connection itself is closed too, so paho's reader ends.
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after a write failure succeeded")
	}
}

func TestCoalescingConnBlocksAndFailsOnAStuckPeer(t *testing.T) {
	client, peer := net.Pipe() // the peer never reads: a broker that stopped reading
	defer peer.Close()
	c := newCoalescingConn(client, 200*time.Millisecond)
	defer c.Close()
	wrote := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				wrote <- err
				return
			}
		}
	}()
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writes to a peer that never reads neither blocked into an error nor failed")
	}
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > 2*closeFlushTimeout {
		t.Fatalf("Close took %v with a stuck peer", d)
	}
}

// gatedConn counts the writes that reach the socket and holds the first until released.
type gatedConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
	gate   chan struct{}
}

func (g *gatedConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	g.writes++
	first := g.writes == 1
	g.mu.Unlock()
	if first {
		<-g.gate
	}
	return g.Conn.Write(p)
}

func TestCoalescingConnSendsABurstInOneWrite(t *testing.T) {
	raw, server := net.Pipe()
	go io.Copy(io.Discard, server) //nolint:errcheck // ends when the pipe closes
	defer server.Close()
	g := &gatedConn{Conn: raw, gate: make(chan struct{})}
	c := newCoalescingConn(g, time.Second)
	defer c.Close()
	if _, err := c.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the first write on the socket", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.writes == 1
	})
	for i := 0; i < 100; i++ { // queued while the socket is busy with the first
		if _, err := c.Write([]byte("packet")); err != nil {
			t.Fatal(err)
		}
	}
	close(g.gate)
	waitFor(t, 5*time.Second, "the queue drained", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(c.queue) == 0 && g.writes >= 2
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.writes != 2 {
		t.Fatalf("%d writes reached the socket for 101 packets; want 2 (the first, then the burst)", g.writes)
	}
}

func TestWritePublishQoS0EncodesWhatPahoReads(t *testing.T) {
	c, server := tcpPair(t)
	sizes := []int{0, 1, 100, 127 - 2 - 3, 128, 16383, 16384, 2_097_151, 2_097_152}
	go func() {
		for i, n := range sizes {
			if err := c.writePublishQoS0("t/"+strconv.Itoa(i), bytes.Repeat([]byte{byte(i)}, n), i%2 == 1); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i, n := range sizes {
		cp, err := packets.ReadPacket(server)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		p, ok := cp.(*packets.PublishPacket)
		if !ok {
			t.Fatalf("packet %d is a %T", i, cp)
		}
		if p.TopicName != "t/"+strconv.Itoa(i) || p.Qos != 0 || p.Retain != (i%2 == 1) || !bytes.Equal(p.Payload, bytes.Repeat([]byte{byte(i)}, n)) {
			t.Fatalf("packet %d: topic %q qos %d retain %v, %d bytes; want %d bytes", i, p.TopicName, p.Qos, p.Retain, len(p.Payload), n)
		}
	}
}
